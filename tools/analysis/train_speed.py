"""Training speed from mmengine work dirs: s/iter, img/s, memory and loss per run; scaling tables.

Reads mmengine's text log of each run (a work dir's newest run that trained, or a captured
``dist_train.sh`` output with ``--config``): GPU count, images per GPU, and per logged
interval the time, the wait for data (``data_time``), memory and loss; skips the intervals whose
smoothing window (the config's ``log_processor.window_size``) reaches back into the first one
(warm-up) and takes the median time and wait of the rest.
``--json`` appends one record per run; ``--update`` rewrites the generated tables of a
Markdown file (between ``<!-- train_speed:begin -->`` and ``<!-- train_speed:end -->``)
from every record in the given JSON-lines files: parallel efficiency against the 1-GPU run
of the same config, and the wall time of each published schedule at the measured s/iter.
With ``--compare`` the runs of one call are a comparison instead: the first is the
baseline and the table gives every run's s/iter as a ratio against it (runs trained with
``--compile`` are marked, as are runs whose backbone checkpointed activations (``with_cp=True``),
and whether the optimizer's param groups were merged, see
:class:`~vitdense.engine.MergedGroupsOptimWrapperConstructor`).

Examples:
    python tools/analysis/train_speed.py work_dirs/det_1gpu work_dirs/det_4gpu --json scaling.jsonl
    python tools/analysis/train_speed.py train_4gpu.log --config configs/upernet/litv2_s_160k_ade20k.py
    python tools/analysis/train_speed.py swin.log litv2.log --compare \
        --config mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py
    python tools/analysis/train_speed.py --update docs/reproduce.md \
        --records docs/measurements/*scaling*.jsonl
    python tools/analysis/train_speed.py work_dirs/swin_t work_dirs/litv2_s work_dirs/litv2_s_compiled \
        --compare --json compare.jsonl
"""

from __future__ import annotations

import argparse
import ast
import datetime
import glob
import json
import math
import os.path as osp
import re
import statistics
import sys

from mmengine.config import Config

from vitdense.utils.analysis import read_jsonl, rewrite_generated, with_cp_label
from vitdense.utils.launch import CUDA_GRAPHS_LOGGED, load_config

#: Iterations of the published schedules at 16 images per iteration: COCO train2017 keeps
#: 117,266 annotated images (7,330 iterations per epoch); ADE20K schedules count iterations.
SCHEDULES = {
    'mask_rcnn': {'1x (12 epochs)': 12 * 7330, '3x (36 epochs)': 36 * 7330},
    'retinanet': {'1x (12 epochs)': 12 * 7330, '3x (36 epochs)': 36 * 7330},
    'upernet': {'40k': 40_000, '160k': 160_000},
    'sem_fpn': {'40k': 40_000, '80k': 80_000},
}
#: ImageNet-1k training images: an ImageNet config's schedule is its ``max_epochs`` over these
#: at its 8-GPU batch (8 x the config's images per GPU).
IMAGENET_TRAIN_IMAGES = 1_281_167


def schedules(config: str) -> dict[str, int]:
    """Published schedules of a config's task: name -> iterations at the config's 8-GPU batch."""
    task = config.split('/')[1] if config.startswith('configs/') else ''
    if task != 'imagenet':
        return SCHEDULES.get(task, {})
    cfg = load_config(config)
    batch = 8 * cfg.train_dataloader.batch_size
    epochs = cfg.train_cfg.max_epochs
    return {f'{epochs} epochs, batch {batch}': epochs * -(-IMAGENET_TRAIN_IMAGES // batch)}


#: mmengine's defaults: ``LogProcessor(window_size=10)``, ``LoggerHook(interval=10)``.
DEFAULT_WINDOW, DEFAULT_INTERVAL = '10', 10
#: mmengine's optimizer constructor: one param group per parameter under a ``paramwise_cfg``.
DEFAULT_CONSTRUCTOR = 'DefaultOptimWrapperConstructor'
# ``grad_norm`` sits between memory and loss when gradients are clipped
# (mmengine logs data_time, the wait for the data loader, right after time)
TRAIN_LINE = re.compile(
    r'(?:Epoch|Iter)\(train\).*?\btime: ([\d.]+)(?:\s+data_time: ([\d.]+))?'
    r'.*?\bmemory: (\d+)(?:\s+\w+: [\d.e+-]+)*?\s+loss: ([\d.]+)'
)


def parse_log(text: str) -> dict:
    """GPU count, images per GPU, smoothing and the logged training intervals of an mmengine text log."""
    match = re.search(r'GPU number: (\d+)', text)
    batch = re.search(r'^train_dataloader = dict\(.*?batch_size=(\d+)', text, re.S | re.M)
    # the dumped config sorts keys: window_size closes log_processor's dict, interval opens the logger's
    processor = re.search(r'^log_processor = dict\(.*?(?=^\S|\Z)', text, re.S | re.M)
    window = re.search(r'\bwindow_size=([^,)\s]+)\)\s*$', processor.group(0)) if processor else None
    interval = re.search(r'\blogger=dict\(\s*interval=(\d+)', text)
    optim = re.search(r'^optim_wrapper = dict\(.*?(?=^\S|\Z)', text, re.S | re.M)
    constructor = re.search(r"^    constructor='([\w.]+)'", optim.group(0), re.M) if optim else None
    model = re.search(r'^model = dict\(.*?(?=^\S|\Z)', text, re.S | re.M)
    lines = [m.groups() for m in TRAIN_LINE.finditer(text)]
    return dict(
        gpus=int(match.group(1)) if match else 1,
        batch=int(batch.group(1)) if batch else None,
        # mmengine logs each interval's time averaged over the last window_size iterations
        window=window.group(1) if window else DEFAULT_WINDOW,
        interval=int(interval.group(1)) if interval else DEFAULT_INTERVAL,
        compiled=bool(re.search(r'^compile_modules = ', text, re.M)),
        # build_runner's line says whether the compiled modules replay CUDA graphs
        cuda_graphs=bool(re.search(rf'- torch\.compile: .*, {CUDA_GRAPHS_LOGGED}', text)),
        # the optimizer constructor (its registry scope dropped); mmengine's when the config names none
        constructor=(constructor.group(1).split('.')[-1] if constructor else DEFAULT_CONSTRUCTOR)
        if optim
        else None,
        samplers=train_samplers(model.group(0)) if model else {},
        with_cp=backbone_with_cp(model.group(0)) if model else False,
        intervals=[(float(t), float(m), float(loss)) for t, _, m, loss in lines],  # (s/iter, memory MB, loss)
        # each interval's s/iter waiting for data; None where a line has none
        data_times=[float(d) if d else None for _, d, _, _ in lines],
    )


def _keyword(call: ast.expr, name: str) -> ast.expr | None:
    """The value of ``name=...`` in a ``dict(...)`` call of the logged config, if it has one."""
    if not isinstance(call, ast.Call):
        return None
    return next((k.value for k in call.keywords if k.arg == name), None)


def backbone_with_cp(model: str) -> bool:
    """Whether a logged ``model = dict(...)`` checkpoints its backbone's activations (``with_cp=True``)."""
    with_cp = _keyword(_keyword(ast.parse(model).body[0].value, 'backbone'), 'with_cp')
    return with_cp is not None and ast.literal_eval(with_cp) is True


def train_samplers(model: str) -> dict[str, list[str]]:
    """The training samplers of a logged ``model = dict(...)``, by ``train_cfg`` stage (``rpn``, ``rcnn``).

    Each sampler is its dict's own ``type`` (nested samplers' types are not), scope dropped; a stage
    with a list of samplers (Cascade R-CNN's stages) lists them in order.
    """
    train_cfg = _keyword(ast.parse(model).body[0].value, 'train_cfg')
    samplers = {}
    for stage in train_cfg.keywords if isinstance(train_cfg, ast.Call) else []:
        found = [stage.value] if stage.arg == 'sampler' else []  # a one-stage train_cfg's own sampler
        found += [
            k.value
            for node in ast.walk(stage.value)
            for k in getattr(node, 'keywords', [])
            if k.arg == 'sampler'
        ]
        types = [ast.literal_eval(t).split('.')[-1] for t in (_keyword(f, 'type') for f in found) if t]
        if types:
            samplers[stage.arg] = types
    return samplers


def warm_up_intervals(window: str, interval: int) -> int:
    """Logged intervals whose averaging window reaches into the first one (the warm-up).

    Raises:
        ValueError: The window is not a number of iterations (``'epoch'``, ``'global'``): every
            logged time of the run may then average in the warm-up.
    """
    if not window.isdigit():
        raise ValueError(
            f'log_processor.window_size={window}: the logged times average in the warm-up; '
            'train with an integer window (e.g. log_processor.window_size=10)'
        )
    return max(1, math.ceil(int(window) / interval))


def resolve_config(work_dir: str) -> str:
    """The config a work dir was trained from: mmengine dumps it there under its file name."""
    dumped = glob.glob(osp.join(work_dir, '*.py'))
    if len(dumped) != 1:
        raise FileNotFoundError(f'{work_dir}: expected the one config mmengine dumps there, found {dumped}')
    cfg = Config.fromfile(dumped[0], import_custom_modules=False)
    # only the file name is kept (mask_rcnn/ and retinanet/ share names): match the model too
    configs = [
        path
        for path in glob.glob(osp.join('configs', '**', osp.basename(dumped[0])), recursive=True)
        if model_signature(load_config(path)) == model_signature(cfg)
    ]
    return configs[0] if len(configs) == 1 else osp.basename(dumped[0])


def model_signature(cfg: Config) -> tuple[str, str | None]:
    """Model type and decode head type: tells apart configs that share a file name."""
    return cfg.model.type, cfg.model.get('decode_head', {}).get('type')


def measure(path: str, config: str | None = None) -> dict:
    """One training run's speed, memory and loss, from its work dir or its text log.

    Args:
        path: A work dir (its newest run that trained is read) or an mmengine log file
            (e.g. the captured output of ``tools/dist_train.sh``).
        config: The config trained; found from the work dir when not given.

    Returns:
        The record: config, source, setting (GPUs, images per GPU, compiled, CUDA graphs, backbone
        ``with_cp``, optimizer constructor, samplers), the median ``s_per_iter`` and, where every
        interval logged one, ``data_s_per_iter``, img/s, peak memory and the first and last loss.
    """
    if osp.isdir(path):
        logs = sorted(glob.glob(osp.join(path, '2*', '2*.log')), reverse=True)
        parsed = next((p for p in map(lambda f: parse_log(open(f).read()), logs) if p['intervals']), None)
        config = config or resolve_config(path)
    else:
        parsed = parse_log(open(path).read())
    if config is None:
        raise ValueError(f'{path}: pass --config for a log file')
    if not parsed:
        raise ValueError(f'{path}: no logged training intervals')
    skip = warm_up_intervals(parsed['window'], parsed['interval'])
    if len(parsed['intervals']) < skip + 2:
        raise ValueError(
            f'{path}: {len(parsed["intervals"])} logged training intervals; at least {skip + 2} are '
            f'needed, as the first {skip} average over the warm-up (log_processor.window_size='
            f'{parsed["window"]}, logger interval {parsed["interval"]}: log as often as the window, or train '
            'longer)'
        )
    if parsed['batch'] is None:
        raise ValueError(f'{path}: no train_dataloader batch_size in the logged config')
    times, memory, loss = zip(*parsed['intervals'], strict=True)
    s_per_iter = statistics.median(times[skip:])
    data_times = parsed['data_times'][skip:]
    data = dict(data_s_per_iter=round(statistics.median(data_times), 4)) if None not in data_times else {}
    return dict(
        config=config,
        source=path,
        gpus=parsed['gpus'],
        batch_per_gpu=parsed['batch'],
        compiled=parsed['compiled'],
        cuda_graphs=parsed['cuda_graphs'],
        optim_constructor=parsed['constructor'],
        samplers=parsed['samplers'],
        with_cp=parsed['with_cp'],
        logged_intervals=len(times),
        warm_up_intervals=skip,
        s_per_iter=round(s_per_iter, 4),
        **data,
        img_per_s=round(parsed['gpus'] * parsed['batch'] / s_per_iter, 1),
        max_mem_gib=round(max(memory) / 1024, 2),
        loss_first=round(loss[0], 4),
        loss_last=round(loss[-1], 4),
    )


def compare(record: dict, baseline: dict, run: str) -> None:
    """Mark ``record`` as part of comparison ``run``: its s/iter as a ratio against ``baseline``'s.

    Raises:
        ValueError: The two runs differ in GPU count or images per GPU (their s/iter do not compare).
    """
    setting = ('gpus', 'batch_per_gpu')
    if any(record[k] != baseline[k] for k in setting):
        raise ValueError(
            f'{record["source"]}: {[record[k] for k in setting]} GPUs, images per GPU; the baseline '
            f'{baseline["source"]} ran {[baseline[k] for k in setting]}'
        )
    record.update(
        run=run,
        baseline=baseline['config'],
        time_ratio=round(record['s_per_iter'] / baseline['s_per_iter'], 4),
    )


def hours(seconds: float) -> str:
    """``12.3 h`` or ``45 min``."""
    return f'{seconds / 3600:.1f} h' if seconds >= 3600 else f'{seconds / 60:.0f} min'


def render(records: list[dict]) -> str:
    """The comparison tables of ``--compare`` records, then the scaling and wall-time tables of the rest."""
    compared = [r for r in records if 'baseline' in r]
    scaling = [r for r in records if 'baseline' not in r]
    return '\n\n'.join(
        ([render_comparisons(compared)] if compared else []) + ([render_scaling(scaling)] if scaling else [])
    )


#: The param groups column: the protocols' MergedGroupsOptimWrapperConstructor or mmengine's; any other
#: constructor by its name, "?" for a log without the config. Records without the field ran before the
#: protocols named a constructor, with mmengine's.
GROUPS = {'MergedGroupsOptimWrapperConstructor': 'merged', DEFAULT_CONSTRUCTOR: "mmengine's", None: '?'}


def groups_label(record: dict) -> str:
    """The param groups cell of a record."""
    constructor = record.get('optim_constructor', DEFAULT_CONSTRUCTOR)
    return GROUPS.get(constructor, constructor)


#: The sampler column: mmdet's RandomSampler permutes on the CPU, vitdense's OnDeviceRandomSampler on the
#: GPU; any other sampler by its name, "-" for a model without one.
SAMPLERS = {'RandomSampler': "mmdet's (CPU)", 'OnDeviceRandomSampler': 'on GPU'}


def samplers_label(record: dict) -> str:
    """The sampler cell of a record: one label when every stage samples alike, else one per stage."""
    stages = {
        stage: ', '.join(dict.fromkeys(SAMPLERS.get(t, t) for t in types))
        for stage, types in record['samplers'].items()
    }
    if len(set(stages.values())) <= 1:
        return next(iter(stages.values()), '-')
    return '; '.join(f'{stage}: {label}' for stage, label in stages.items())


def render_comparisons(records: list[dict]) -> str:
    """One table per ``--compare`` call: every run's s/iter as a ratio against the call's first run.

    A table has a sampler column and a data column (the median s/iter spent waiting for the data
    loader, over the same intervals as s/iter) when all its records carry the field (older records
    do not).
    """
    runs: dict[str, list[dict]] = {}
    for r in records:
        runs.setdefault(r['run'], []).append(r)
    blocks = []
    for rows in runs.values():
        first = rows[0]
        with_samplers = all('samplers' in r for r in rows)
        with_data = all('data_s_per_iter' in r for r in rows)
        lines = [
            f'**{first["gpus"]} GPU(s) x {first["batch_per_gpu"]} images, {first["device"]}, '
            f'{first["date"]}** (baseline: {osp.basename(first["baseline"])})',
            '',
            '| config | compiled | param groups | '
            + ('sampler | ' if with_samplers else '')
            + 's/iter | '
            + ('of which data | ' if with_data else '')
            + 'vs baseline | img/s | max memory/GPU (GiB) | loss first → last |',
            '|---|---|---|'
            + ('---|' if with_samplers else '')
            + '---:|'
            + ('---:|' if with_data else '')
            + '---:|---:|---:|---|',
        ]
        lines += [
            f'| {with_cp_label(osp.basename(r["config"]), r.get("with_cp", False))} | {compiled_label(r)} '
            f'| {groups_label(r)} | '
            + (f'{samplers_label(r)} | ' if with_samplers else '')
            + f'{r["s_per_iter"]:.4f} | '
            + (f'{r["data_s_per_iter"]:.4f} | ' if with_data else '')
            + f'{r["time_ratio"]:.2f}x | {r["img_per_s"]:.1f} | {r["max_mem_gib"]:.2f} '
            f'| {r["loss_first"]:.2f} → {r["loss_last"]:.2f} |'
            for r in rows
        ]
        blocks.append('\n'.join(lines))
    return '\n\n'.join(blocks)


def compiled_label(record: dict) -> str:
    """The compiled column of a record.

    Args:
        record: A record of ``measure``.

    Returns:
        ``no``, ``yes`` or ``yes, CUDA graphs`` (records from before CUDA graphs were read say ``yes``).
    """
    if not record['compiled']:
        return 'no'
    return 'yes, CUDA graphs' if record.get('cuda_graphs') else 'yes'


def render_scaling(records: list[dict]) -> str:
    """The scaling and wall-time tables of ``records`` (one config may have runs on several GPU counts)."""
    lines = [
        '| config | GPUs | images/GPU | s/iter | img/s | parallel efficiency | max memory/GPU (GiB) '
        '| loss first → last | device, date |',
        '|---|---:|---:|---:|---:|---:|---:|---|---|',
    ]
    by_config: dict[tuple[str, bool], dict[int, dict]] = {}
    for r in records:  # a run whose backbone checkpoints (with_cp) scales apart from one that does not
        by_config.setdefault((r['config'], bool(r.get('with_cp'))), {})[r['gpus']] = r
    for (config, with_cp), runs in by_config.items():
        base = runs.get(1)
        name = with_cp_label(osp.basename(config), with_cp)
        for gpus in sorted(runs):
            r = runs[gpus]
            eff = f'{r["img_per_s"] / (gpus * base["img_per_s"]):.0%}' if base else ''
            lines.append(
                f'| {name} | {gpus} | {r["batch_per_gpu"]} | {r["s_per_iter"]:.3f} '
                f'| {r["img_per_s"]:.1f} '
                f'| {eff} | {r["max_mem_gib"]:.1f} | {r["loss_first"]:.2f} → {r["loss_last"]:.2f} '
                f'| {r.get("device", "")} {r.get("date", "")} |'
            )
    lines += [
        '',
        "Expected wall time of the full schedules at the configs' 8-GPU batch (COCO / ADE20K: 16 =",
        '8 GPUs x 2 images; ImageNet: 8 x 128), or fewer GPUs with more iterations at the same',
        's/iter, from the largest measured GPU count. Evaluation and data loading of the real',
        'sets are not included.',
        '',
        '| config | schedule | iterations at the 8-GPU batch | 8 GPUs | 4 GPUs | 2 GPUs |',
        '|---|---|---:|---:|---:|---:|',
    ]
    for (config, with_cp), runs in by_config.items():
        r = runs[max(runs)]
        name = with_cp_label(osp.basename(config), with_cp)
        for schedule, iters in schedules(config).items():
            cells = [hours(iters * 8 / gpus * r['s_per_iter']) for gpus in (8, 4, 2)]
            lines.append(f'| {name} | {schedule} | {iters:,} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main() -> None:
    """Measure work dirs and/or regenerate the tables of a Markdown file."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('runs', nargs='*', help='work dirs or text logs of finished training runs')
    parser.add_argument(
        '--config',
        nargs='+',
        default=[None],
        help='the config the runs trained, or one per run (found from a work dir if not given)',
    )
    parser.add_argument(
        '--compare', action='store_true', help='the runs are a comparison: the first is the baseline'
    )
    parser.add_argument('--json', help='append one JSON line per run here')
    parser.add_argument('--device', default='', help='GPU name recorded with the runs, e.g. "NVIDIA H200"')
    parser.add_argument('--records', nargs='*', default=[], help='JSON-lines files to render')
    parser.add_argument('--update', help='Markdown file whose generated tables are rewritten')
    args = parser.parse_args()

    today = datetime.date.today().isoformat()
    call = datetime.datetime.now().isoformat(timespec='seconds')  # names the comparison
    if len(args.config) not in (1, len(args.runs)):
        sys.exit(f'--config: one config, or one per run ({len(args.runs)}); got {len(args.config)}')
    configs = args.config * len(args.runs) if len(args.config) == 1 else args.config
    failed = []
    baseline = None
    for run, config in zip(args.runs, configs, strict=True):
        try:
            record = dict(measure(run, config), device=args.device, date=today)
        except (OSError, ValueError) as err:  # a run that crashed early: report it, measure the rest
            print(f'skipped {run}: {err}', file=sys.stderr)
            failed.append(run)
            continue
        if args.compare:
            if baseline is None:
                if run != args.runs[0]:
                    sys.exit(f'--compare: the baseline {args.runs[0]} could not be measured')
                baseline = record
            try:
                compare(record, baseline, call)
            except ValueError as err:
                print(f'skipped {run}: {err}', file=sys.stderr)
                failed.append(run)
                continue
        print(json.dumps(record))
        if args.json:
            with open(args.json, 'a') as f:
                f.write(json.dumps(record) + '\n')
    if args.update:
        records = read_jsonl(args.records)
        rewrite_generated(
            args.update, 'train_speed', 'tools/analysis/train_speed.py', args.records, render(records)
        )
        print(f'updated {args.update} from {len(records)} runs')
    if failed:
        sys.exit(f'{len(failed)} run(s) could not be measured: {failed}')


if __name__ == '__main__':
    main()
