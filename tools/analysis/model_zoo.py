"""Generate ``docs/model_zoo.md`` and ``model-index.yml`` from the configs.

Every config gets its params and FLOPs, from the same code as
``tools/analysis/get_flops.py`` (detection at 800x1280, segmentation at 512x512),
cached in a JSON file keyed by each config's resolved model so that a re-run only
measures configs that changed. Measurements made on a GPU are merged in: inference
img/s from ``tools/analysis/benchmark.py --json`` (``--bench``) and training s/iter and
memory from ``tools/analysis/train_speed.py --json`` (``--train``), each with its GPU
and date. Results the upstream projects publish come from ``docs/upstream_results.yml``
and are labelled as upstream's.

Example:
    python tools/analysis/model_zoo.py \
        --bench docs/measurements/2026-11-21_h200.jsonl docs/measurements/2026-11-21_h200_b.jsonl \
        docs/measurements/2026-11-21_h200_bench_c.jsonl \
        --train docs/measurements/2026-11-21_h200x4_scaling.jsonl \
        docs/measurements/2026-11-21_h200_train.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import glob
import hashlib
import importlib
import json
import os.path as osp
import re

import torch
import yaml

from vitdense.utils.analysis import measure_complexity, read_jsonl
from vitdense.utils.launch import load_config

TASKS = {
    'mask_rcnn': 'Mask R-CNN + FPN, COCO',
    'retinanet': 'RetinaNet + FPN, COCO',
    'sem_fpn': 'Semantic FPN, ADE20K',
    'upernet': 'UperNet, ADE20K',
    'imagenet': 'Image classification, ImageNet-1k',
}
#: Per task: the OpenMMLab task name, data set and the metrics upstream publishes.
TASK_INFO = {
    'mask_rcnn': ('Instance Segmentation', 'COCO', {'box_ap': 'box AP', 'mask_ap': 'mask AP'}),
    'retinanet': ('Object Detection', 'COCO', {'box_ap': 'box AP'}),
    'sem_fpn': ('Semantic Segmentation', 'ADE20K', {'miou': 'mIoU'}),
    'upernet': ('Semantic Segmentation', 'ADE20K', {'miou': 'mIoU'}),
    'imagenet': ('Image Classification', 'ImageNet-1k', {'top1': 'Top 1 Accuracy'}),
}


def measure(path: str) -> dict:
    """Params and FLOPs of one config's model at its task's standard input size."""
    result = measure_complexity(path)
    name = osp.splitext(osp.basename(path))[0]
    if name.endswith('_in1k'):  # classifiers: the recipe's epochs
        schedule = f'{load_config(path).train_cfg.max_epochs}e'
    else:
        schedule = name.rsplit('_', 2)[-2]
    return dict(
        backbone=result['backbone'],
        schedule=schedule,
        shape=result['input_shape'],
        params_m=result['params_m'],
        gflops=result['gflops'],
    )


def model_digest(path: str) -> str:
    """Hash of a config's resolved model: what params and FLOPs depend on.

    Config variables do not enter it, nor where the initial weights come from (``init_cfg``,
    ``pretrained``).
    """

    def architecture(value):
        if isinstance(value, dict):
            return {k: architecture(v) for k, v in value.items() if k not in ('init_cfg', 'pretrained')}
        if isinstance(value, list | tuple):
            return [architecture(v) for v in value]
        return value

    return hashlib.sha1(repr(architecture(load_config(path).model.to_dict())).encode()).hexdigest()


def published_cell(result: dict | None) -> str:
    """Upstream's published metrics (``44.9 / 40.8`` box / mask AP, ``44.3`` mIoU) and its weights."""
    if not result:
        return ''
    metrics = [result[k] for k in ('box_ap', 'mask_ap', 'miou', 'top1') if k in result]
    cell = ' / '.join(f'{m:.1f}' for m in metrics)
    if result.get('weights'):
        cell += f' ([weights]({result["weights"]}))'
    elif result.get('weights_note'):
        cell += f' (weights {result["weights_note"]})'
    return cell.strip()


def paper(backbone_type: str) -> dict | None:
    """Title and URL of the paper cited by a vitdense backbone module's docstring."""
    module = importlib.import_module('vitdense.models.backbones')
    cls = getattr(module, backbone_type, None)
    doc = importlib.import_module(cls.__module__).__doc__ if cls is not None else ''
    match = re.search(r'"(.+?)"[^"]*?(https://arxiv\.org/abs/[\d.]+)', ' '.join((doc or '').split()))
    return dict(Title=match.group(1).rstrip('.'), URL=match.group(2)) if match else None


def model_index(rows: dict[str, dict], published: dict[str, dict], train: dict[str, dict]) -> dict:
    """An OpenMMLab-style model index: one collection per backbone family, one model per config."""
    collections: dict[str, dict] = {}
    models = []
    for path, row in rows.items():
        task = path.split('/')[1]
        family, _, name = row['backbone'].partition('-')
        if family == 'TimmPyramid':  # one collection per timm architecture
            family = f'{name} (timm)'
        collection = collections.setdefault(family, dict(Name=family, Metadata=dict(Backbone=family)))
        if family in ('LITv2', 'LIT', 'SpectFormer', 'SGFormer', 'CBViT') and 'Paper' not in collection:
            found = paper(family)
            if found:
                collection['Paper'] = found
        task_name, dataset, metric_names = TASK_INFO[task]
        metadata = {
            'Training Data': dataset,
            'Parameters': f'{row["params_m"]:.1f}M',
            'FLOPs': f'{row["gflops"]:.1f}G' if task == 'imagenet' else f'{row["gflops"]:.0f}G',
            'FLOPs input': 'x'.join(map(str, row['shape'])),
            'Backbone': row['backbone'],
            'Schedule': row['schedule'],
        }
        if path in train:
            metadata['Training Memory (GB)'] = train[path]['max_mem_gib']
        entry = dict(
            Name=f'{task}_{osp.splitext(osp.basename(path))[0]}',
            **{'In Collection': family},
            Config=path,
            Task=task_name,
            Metadata=metadata,
        )
        result = published.get(path) or {}
        if result:
            metadata['Upstream published (not measured here)'] = dict(result)
        metrics = {name: result[key] for key, name in metric_names.items() if key in result}
        if metrics:  # upstream's figures, with the file they come from (see Metadata)
            entry['Results'] = [dict(Task=task_name, Dataset=dataset, Metrics=metrics)]
        if result.get('weights'):
            entry['Weights'] = result['weights']
        models.append(entry)
    return dict(Collections=list(collections.values()), Models=models)


def main() -> None:
    """Measure what is not cached; write the Markdown tables and the model index."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out', default='docs/model_zoo.md')
    parser.add_argument('--cache', default='docs/model_zoo.json')
    parser.add_argument('--index', default='model-index.yml')
    parser.add_argument('--published', default='docs/upstream_results.yml')
    parser.add_argument('--bench', nargs='*', default=[], help='benchmark.py --json outputs to merge')
    parser.add_argument('--train', nargs='*', default=[], help='train_speed.py --json outputs to merge')
    args = parser.parse_args()

    cache = json.load(open(args.cache)) if osp.isfile(args.cache) else {}
    rows = {}
    for task in TASKS:
        for path in sorted(glob.glob(f'configs/{task}/*.py')):
            digest = model_digest(path)
            if cache.get(path, {}).get('digest') != digest:
                cache[path] = dict(measure(path), digest=digest)
                print(f'measured {path}: {cache[path]["params_m"]} M, {cache[path]["gflops"]} G', flush=True)
            rows[path] = cache[path]
    cache = {k: v for k, v in cache.items() if k in rows}
    with open(args.cache, 'w') as f:
        json.dump(cache, f, indent=1, sort_keys=True)

    published = yaml.safe_load(open(args.published)) or {}
    unknown = sorted(set(published) - set(rows))
    if unknown:
        raise KeyError(f'{args.published} names configs that do not exist: {unknown}')
    speed: dict[str, dict] = {}
    for result in read_jsonl(args.bench):
        if result.get('mode', 'inference') == 'inference' and result.get('batch_size', 1) == 1:
            speed.setdefault(result['name'], {})[result['dtype']] = result
    # training: the last record given for each config (pass the files of one campaign last)
    train = {result['config']: result for result in read_jsonl(args.train)}

    lines = [
        '# Model zoo',
        '',
        'Generated by `python tools/analysis/model_zoo.py`; do not edit by hand. Params and FLOPs',
        '(multiply-adds, the convention of the published figures) are measured by the project with',
        f'torch {torch.__version__.split("+")[0]}, detection at 800x1280 and segmentation at 512x512;',
        'a two-stage detector is counted with 1000 box and 100 mask RoIs. FFTs are not counted.',
        'Inference img/s: `tools/analysis/benchmark.py` at 800x1333 (segmentation: 512x512), batch 1.',
        'Training: `tools/analysis/train_speed.py` on AMP runs of the config (2 images per GPU, random',
        'initialisation) on the synthetic sets of `tools/misc/make_synthetic_data.py`: median s/iter',
        'after the first logged interval, and peak memory per GPU (the last record given per config;',
        'see the `--train` files for GPU count and length).',
        '**Published (upstream)** columns are the figures the upstream project reports for the same',
        f'model or protocol (`{args.published}`), not results of vitdense: AP box / mask, mIoU or',
        "ImageNet top-1, with upstream's released weights where there are some (`tools/test.py CONFIG",
        'URL` evaluates them as they are). Classifiers are counted at their evaluation crop.',
    ]
    for task, title in TASKS.items():
        lines += ['', f'## {title}', '']
        lines += [
            '| config | backbone | schedule | params (M) | FLOPs (G) | img/s fp32 | img/s fp16 '
            '| train s/iter | train mem/GPU (GiB) | GPU, date | published (upstream) |',
            '|---|---|---|---:|---:|---:|---:|---:|---:|---|---|',
        ]
        for path, row in rows.items():
            if not path.startswith(f'configs/{task}/'):
                continue
            measured = speed.get(path, {})
            fp32, fp16 = measured.get('fp32', {}), measured.get('fp16', {})
            trained = train.get(path, {})
            where = {f'{r["device"]} {r["date"]}' for r in (fp32, fp16, trained) if r.get('device')}
            lines.append(
                f'| [{osp.basename(path)}](../{path}) | {row["backbone"]} | {row["schedule"]} '
                f'| {row["params_m"]:.1f} | {row["gflops"]:.{1 if task == "imagenet" else 0}f} '
                f'| {fp32.get("img_per_s", "")} '
                f'| {fp16.get("img_per_s", "")} | {trained.get("s_per_iter", "")} '
                f'| {trained.get("max_mem_gib", "")} '
                f'| {", ".join(sorted(where))} | {published_cell(published.get(path))} |'
            )
    lines += ['', f'_Generated {datetime.date.today().isoformat()}._', '']
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines))
    with open(args.index, 'w') as f:
        f.write('# Generated by tools/analysis/model_zoo.py; do not edit by hand.\n')
        yaml.safe_dump(model_index(rows, published, train), f, sort_keys=False, allow_unicode=True)
    print(f'wrote {args.out} and {args.index} ({len(rows)} configs)')


if __name__ == '__main__':
    main()
