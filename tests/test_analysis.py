"""FLOP counting and the analysis tools."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys
import types
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from torchvision.ops import deform_conv2d

from vitdense.models.backbones import CBViT, LITv2
from vitdense.utils.analysis import count_macs, read_jsonl, set_reference


def test_attention_and_deformable_conv_are_counted() -> None:
    q = torch.randn(2, 3, 16, 8)
    k = torch.randn(2, 3, 10, 8)
    assert count_macs(lambda: F.scaled_dot_product_attention(q, k, k)) == 2 * 3 * 16 * 10 * 8 * 2
    x, w = torch.randn(1, 4, 8, 8), torch.randn(6, 4, 2, 2)
    offset = torch.randn(1, 8, 4, 4)
    conv = count_macs(lambda: F.conv2d(x, w, stride=2))
    assert conv == 6 * 4 * 4 * 4 * 4 and count_macs(lambda: deform_conv2d(x, offset, w, stride=2)) == conv


def test_litv2_imagenet_complexity_matches_published() -> None:
    """Upstream publishes 28M (with its 1000-class head) / 3.7G for LITv2-S at 224x224."""
    model = LITv2('s').eval()
    head = (
        768 * 1000
        + 1000
        + 2 * 768
        - sum(p.numel() for n, p in model.named_parameters() if n.startswith('norm'))
    )
    assert abs((sum(p.numel() for p in model.parameters()) + head) / 1e6 - 27.84) < 0.01
    assert abs(count_macs(lambda: model(torch.randn(1, 3, 224, 224))) / 1e9 - 3.7) < 0.05


def test_get_flops_tool_writes_json(tmp_path) -> None:
    out = tmp_path / 'flops.json'
    subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools/analysis/get_flops.py'),
            'configs/sem_fpn/litv2_s_fpn_80k_ade20k.py',
            '--shape',
            '128',
            '128',
            '--json',
            str(out),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (result,) = json.loads(out.read_text())
    assert result['input_shape'] == [128, 128]
    assert 31 < result['params_m'] < 32 and 0 < result['backbone_gflops'] < result['gflops']


def test_benchmark_reports_throughput_and_achieved_flops(tmp_path) -> None:
    out = tmp_path / 'bench.jsonl'
    args = ['--backbone', 'LITv2', '--shape', '64', '64', '--iters', '2', '--warmup', '1', '--json', str(out)]
    tool = osp.join(REPO, 'tools/analysis/benchmark.py')
    subprocess.run([sys.executable, tool, *args, '--train'], cwd=REPO, check=True, capture_output=True)
    (result,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert result['name'] == 'LITv2-s' and result['mode'] == 'train' and result['compile'] is False
    macs = count_macs(lambda: LITv2('s').eval()(torch.randn(1, 3, 64, 64)))
    # a training step counts 3 forward passes of 2 FLOPs per multiply-add
    expected = 6 * macs / result['s_per_iter'] / 1e12
    assert abs(result['tflop_per_s'] - expected) <= 1e-4 + 0.01 * expected


def test_benchmark_times_backbones_and_dense_parts_on_both_paths_and_renders_ratios(tmp_path) -> None:
    out, doc = tmp_path / 'bench.jsonl', tmp_path / 'bench.md'
    args = ['configs/sem_fpn/sgformer_s_fpn_80k_ade20k.py', '--backbone', 'SGFormer:s', '--part', 'features']
    args += [
        '--train',
        '--reference',
        '--shape',
        '64',
        '64',
        '--iters',
        '1',
        '--warmup',
        '1',
        '--json',
        str(out),
    ]
    tool = osp.join(REPO, 'tools/analysis/benchmark.py')
    subprocess.run([sys.executable, tool, *args], cwd=REPO, check=True, capture_output=True)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r['name'], r['part'], r['variant']) for r in records] == [
        ('SGFormer-s', 'backbone', 'eager'),
        ('SGFormer-s', 'backbone', 'reference'),
        ('configs/sem_fpn/sgformer_s_fpn_80k_ade20k.py', 'features', 'eager'),
        ('configs/sem_fpn/sgformer_s_fpn_80k_ade20k.py', 'features', 'reference'),
    ]
    assert len({r['run'] for r in records}) == 1 and all(r['mode'] == 'train' for r in records)
    doc.write_text('# x\n<!-- benchmark:begin -->\nold\n<!-- benchmark:end -->\ntail\n')
    tool_args = ['--update', str(doc), '--records', str(out)]
    subprocess.run([sys.executable, tool, *tool_args], cwd=REPO, check=True, capture_output=True)
    text = doc.read_text()
    assert 'old' not in text and text.endswith('<!-- benchmark:end -->\ntail\n')
    assert '**train, backbone, 64x64, batch 1, fp32**' in text and '**train, backbone + neck, 64x64' in text
    ratio = records[1]['img_per_s'] / records[0]['img_per_s']
    assert f'| SGFormer-s | reference | {records[1]["img_per_s"]:.1f} | {ratio:.2f}x |' in text
    assert f'| SGFormer-s | eager | {records[0]["img_per_s"]:.1f} | 1.00x |' in text
    assert f'| sgformer_s_fpn_80k_ade20k | eager | {records[2]["img_per_s"]:.1f} | 1.00x |' in text


def test_benchmark_features_with_cuda_graphs_begin_a_step_per_call(monkeypatch) -> None:
    """``--part features`` calls ``extract_feat``, past the model's step hook: each call begins a step."""
    benchmark = load_tool('benchmark')
    steps, calls = [], []
    monkeypatch.setattr(torch.compiler, 'cudagraph_mark_step_begin', lambda: steps.append(len(calls)))
    monkeypatch.setattr(torch.nn.Module, 'compile', lambda self, **kw: None)

    def fake_benchmark(name, step, args, device, macs, variant, part) -> None:
        before = len(steps)
        for _ in range(2):
            step()
            calls.append(variant)
        assert len(steps) - before == 2, variant

    monkeypatch.setattr(benchmark, 'benchmark', fake_benchmark)
    monkeypatch.setattr(benchmark, 'count_macs', lambda forward: 1)
    args = types.SimpleNamespace(
        part='features',
        shape=(64, 64),
        batch_size=1,
        train=False,
        reference=False,
        reference_only=[],
        compile=True,
        cuda_graphs=True,
        with_cp=False,
    )
    benchmark.time_config('configs/sem_fpn/litv2_s_fpn_40k_ade20k.py', args, 'cpu')
    assert calls == ['eager', 'eager', 'compiled-cudagraphs', 'compiled-cudagraphs']


def test_benchmark_reference_only_switches_the_named_modules_in_every_variant(monkeypatch) -> None:
    """``--reference-only ConvFFN``: ConvFFNs on their reference path in every variant, token merging not."""
    from vitdense.models.layers import ConvFFN, DeformConv2dPack

    benchmark = load_tool('benchmark')
    seen, built = [], []

    def fake_benchmark(name, step, args, device, macs, variant, part) -> None:
        (model,) = built
        ffns = [m.reference for m in model.modules() if isinstance(m, ConvFFN)]
        merges = [m.reference for m in model.modules() if isinstance(m, DeformConv2dPack)]
        seen.append((variant, all(ffns) and bool(ffns), any(merges)))

    build = benchmark.MODELS.build
    monkeypatch.setattr(benchmark.MODELS, 'build', lambda cfg: built.append(build(cfg)) or built[-1])
    monkeypatch.setattr(benchmark, 'benchmark', fake_benchmark)
    monkeypatch.setattr(benchmark, 'count_macs', lambda forward: 1)
    monkeypatch.setattr(torch.nn.Module, 'compile', lambda self, **kw: None)
    args = types.SimpleNamespace(
        shape=(64, 64),
        batch_size=1,
        arch='s',
        train=False,
        reference=False,
        reference_only=['ConvFFN'],
        compile=True,
        cuda_graphs=False,
        with_cp=False,
    )
    benchmark.time_backbone('LITv2:s', args, 'cpu')
    assert seen == [
        ('eager (reference: ConvFFN)', True, False),
        ('compiled (reference: ConvFFN)', True, False),
    ]
    with pytest.raises(ValueError, match='no ConvFFN module with a reference path'):
        set_reference(CBViT('s'), True, ['ConvFFN'])
    tool = osp.join(REPO, 'tools/analysis/benchmark.py')
    both = [sys.executable, tool, '--backbone', 'LITv2', '--reference', '--reference-only', 'ConvFFN']
    result = subprocess.run(both, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and '--reference-only switches the named ones' in result.stderr


def test_benchmark_calls_sharing_a_run_render_as_one_table(tmp_path) -> None:
    """Two calls, the default path and ``--reference-only ConvFFN``, compared in one table by ``--run``."""
    out, doc = tmp_path / 'bench.jsonl', tmp_path / 'bench.md'
    tool = osp.join(REPO, 'tools/analysis/benchmark.py')
    common = ['--backbone', 'LITv2:s', '--shape', '64', '64', '--iters', '1', '--warmup', '1']
    for ref in (['--reference-only', 'ConvFFN'], []):
        args = [*common, *ref, '--run', 'R1', '--json', str(out)]
        subprocess.run([sys.executable, tool, *args], cwd=REPO, check=True, capture_output=True)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r['variant'], r['run']) for r in records] == [
        ('eager (reference: ConvFFN)', 'R1'),
        ('eager', 'R1'),
    ]
    doc.write_text('<!-- benchmark:begin -->\n<!-- benchmark:end -->\n')
    subprocess.run([sys.executable, tool, '--update', str(doc), '--records', str(out)], cwd=REPO, check=True)
    text = doc.read_text()
    ratio = records[1]['img_per_s'] / records[0]['img_per_s']
    assert text.count('**inference, backbone, 64x64') == 1
    assert f'| LITv2-s | eager | {records[1]["img_per_s"]:.1f} | {ratio:.2f}x |' in text


def test_benchmark_counts_cuda_graphs_memory_from_their_recording(monkeypatch, tmp_path) -> None:
    """Replayed CUDA graphs allocate nothing: their peak must count the warm-up, where they are recorded."""
    benchmark = load_tool('benchmark')
    steps, resets = [], []

    class Event:
        def __init__(self, **kwargs) -> None:
            pass

        def record(self) -> None:
            pass

        def elapsed_time(self, end: Event) -> float:
            return 1000.0

    monkeypatch.setattr(torch.cuda, 'synchronize', lambda: None)
    monkeypatch.setattr(torch.cuda, 'empty_cache', lambda: None)
    monkeypatch.setattr(torch.cuda, 'Event', Event)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda: 'GPU')
    monkeypatch.setattr(torch.cuda, 'max_memory_allocated', lambda: 2**30)
    monkeypatch.setattr(torch.cuda, 'reset_peak_memory_stats', lambda: resets.append(len(steps)))
    args = types.SimpleNamespace(dtype='fp32', iters=2, warmup=3, train=False, shape=(8, 8), batch_size=1)
    args.json, args.run, args.with_cp = str(tmp_path / 'r.jsonl'), 'x', False
    for variant, expected in (('compiled', [0, 3]), ('compiled-cudagraphs', [0])):
        steps.clear()
        resets.clear()
        benchmark.benchmark('m', lambda: steps.append(1), args, 'cuda', 1, variant, 'backbone')
        # reset before the first warm-up call; again after the warm-up unless the step replays graphs
        assert resets == expected and len(steps) == 5
    records = [json.loads(line) for line in (tmp_path / 'r.jsonl').read_text().splitlines()]
    assert [r.get('peak_mem_from') for r in records] == [None, 'warm-up']
    table = benchmark.render(records)
    assert '| m | compiled | 2.0 | 1.00x | 0.0 |  | 1.0 |' in table
    assert '| m | compiled-cudagraphs | 2.0 | 1.00x | 0.0 |  | 1.0 (from warm-up) |' in table


def test_benchmark_with_cp_builds_checkpointing_backbones_and_marks_their_rows(monkeypatch, capsys) -> None:
    benchmark = load_tool('benchmark')
    models = []
    monkeypatch.setattr(benchmark, 'time_variants', lambda name, part, model, *rest: models.append(model))
    monkeypatch.setattr(benchmark, 'count_macs', lambda forward: 1)
    for with_cp in (False, True):
        args = types.SimpleNamespace(
            arch='s', batch_size=1, shape=(64, 64), cuda_graphs=False, with_cp=with_cp, part='features'
        )
        benchmark.time_backbone('SGFormer', args, 'cpu')
        benchmark.time_config('configs/sem_fpn/sgformer_s_fpn_80k_ade20k.py', args, 'cpu')
    stages = [[m.with_cp for m in model.modules() if hasattr(m, 'with_cp')] for model in models]
    assert [set(s) for s in stages] == [{False}, {False}, {True}, {True}] and all(len(s) == 4 for s in stages)
    record = dict(name='SGFormer-s', part='backbone', mode='train', dtype='bf16', shape=[8, 8], batch_size=2)
    record.update(img_per_s=2.0, device='cpu', date='d', run='r', variant='compiled', with_cp=True)
    assert '| SGFormer-s (with_cp) | compiled | 2.0 | 1.00x |' in benchmark.render([record])
    monkeypatch.setattr(sys, 'argv', ['benchmark.py', '--backbone', 'SGFormer', '--with-cp'])
    with pytest.raises(SystemExit):  # inference does not checkpoint
        benchmark.main()
    assert '--with-cp checkpoints activations for backward: add --train' in capsys.readouterr().err


def test_benchmark_reference_switch_reaches_every_fast_path_and_refuses_models_without_one() -> None:
    from vitdense.models.backbones import SGFormer
    from vitdense.models.backbones.sgformer import HybridScaleAttention, WholeSampleNorm
    from vitdense.models.layers import ConvFFN, DeformConv2dPack

    for model, kind in (
        (SGFormer('s'), (HybridScaleAttention, WholeSampleNorm, ConvFFN)),
        (LITv2('s'), (DeformConv2dPack, ConvFFN)),
    ):
        set_reference(model, True)
        switched = [m for m in model.modules() if getattr(m, 'reference', False)]
        assert switched and switched == [m for m in model.modules() if isinstance(m, kind)]
        set_reference(model, False)
        assert not any(m.reference for m in model.modules() if hasattr(m, 'reference'))
    with pytest.raises(ValueError, match='no module with a reference path'):
        set_reference(CBViT('s'), True)


def load_tool(name: str) -> types.ModuleType:
    """A script of tools/analysis as a module (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, 'tools', 'analysis', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(
    work_dir,
    gpus: int,
    seconds: list[float],
    memory_mb: int = 3072,
    extra_config: str = '',
    model: str = "model = dict(type='MaskRCNN')\n",
    data_seconds: list[float] | None = None,
) -> None:
    """A work dir as mmengine leaves it: dumped config, and a timestamped text log.

    Each interval waits ``data_seconds`` (0.01 s by default) for the data loader.
    """
    run = work_dir / '20260101_000000'
    run.mkdir(parents=True)
    config = (
        model
        + 'train_dataloader = dict(\n    batch_size=2,\n    num_workers=2,\n'
        + "    sampler=dict(shuffle=True, type='DefaultSampler'))\n"
        + extra_config
    )
    (work_dir / 'litv2_s_fpn_1x_coco.py').write_text(config)
    lines = [f'    Distributed training: True\n    GPU number: {gpus}\n', config]
    lines += [
        f'12/01 00:00:0{i} - mmengine - INFO - Epoch(train) [1][{25 * (i + 1)}/100]  eta: 0:00:01  '
        f'time: {t}  data_time: {d:.4f}  memory: {memory_mb}  loss: {3.0 - i}  loss_rpn_cls: 0.1000\n'
        for i, (t, d) in enumerate(zip(seconds, data_seconds or [0.01] * len(seconds), strict=True))
    ]
    (run / '20260101_000000.log').write_text(''.join(lines))


def test_train_speed_measures_runs_and_renders_scaling(tmp_path) -> None:
    train_speed = load_tool('train_speed')
    fake_run(tmp_path / 'one', 1, [9.0, 0.50, 0.52, 0.48])  # the first interval is warm-up
    fake_run(tmp_path / 'four', 4, [9.0, 0.55, 0.55, 0.60])
    cwd = os.getcwd()
    try:
        os.chdir(REPO)  # the configs/ folder names the config
        one, four = train_speed.measure(str(tmp_path / 'one')), train_speed.measure(str(tmp_path / 'four'))
    finally:
        os.chdir(cwd)
    assert one['config'] == 'configs/mask_rcnn/litv2_s_fpn_1x_coco.py'
    assert (one['gpus'], one['s_per_iter'], one['img_per_s']) == (1, 0.5, 4.0)
    assert (four['gpus'], four['s_per_iter'], four['img_per_s'], four['max_mem_gib']) == (4, 0.55, 14.5, 3.0)
    assert (four['loss_first'], four['loss_last']) == (3.0, 0.0)
    log = tmp_path / 'four' / '20260101_000000' / '20260101_000000.log'
    assert train_speed.measure(str(log), config='c.py')['s_per_iter'] == 0.55
    table = train_speed.render([one, four])
    assert '| litv2_s_fpn_1x_coco.py | 4 | 2 | 0.550 | 14.5 | 91% |' in table
    # 1x: 87,960 iterations at 0.55 s on 8 GPUs = 13.4 h; on 4 GPUs twice the iterations
    assert '| litv2_s_fpn_1x_coco.py | 1x (12 epochs) | 87,960 | 13.4 h | 26.9 h | 53.8 h |' in table
    # a run whose backbone checkpoints scales apart: it neither replaces nor sets the other's baseline
    table = train_speed.render([one, four, dict(four, with_cp=True, s_per_iter=0.66, img_per_s=12.1)])
    assert '| litv2_s_fpn_1x_coco.py | 4 | 2 | 0.550 | 14.5 | 91% |' in table
    assert '| litv2_s_fpn_1x_coco.py (with_cp) | 4 | 2 | 0.660 | 12.1 |  |' in table
    assert '| litv2_s_fpn_1x_coco.py (with_cp) | 1x (12 epochs) | 87,960 |' in table


def test_model_index_lists_configs_and_labels_upstream_results() -> None:
    model_zoo = load_tool('model_zoo')
    rows = {
        'configs/mask_rcnn/litv2_s_fpn_1x_coco.py': dict(
            backbone='LITv2-s', schedule='1x', shape=[800, 1280], params_m=47.4, gflops=264.0
        ),
        'configs/upernet/xcit_s12_160k_ade20k.py': dict(
            backbone='TimmPyramid-xcit_small_12_p16_224',
            schedule='160k',
            shape=[512, 512],
            params_m=42.0,
            gflops=149.4,
        ),
    }
    published = {
        'configs/mask_rcnn/litv2_s_fpn_1x_coco.py': dict(
            source='ziplab/LITv2 README', box_ap=44.9, mask_ap=40.8, weights='https://x/mask_rcnn.pth'
        )
    }
    index = model_zoo.model_index(
        rows, published, {'configs/upernet/xcit_s12_160k_ade20k.py': dict(max_mem_gib=2.8)}
    )
    litv2, xcit = index['Models']
    assert litv2['Name'] == 'mask_rcnn_litv2_s_fpn_1x_coco' and litv2['In Collection'] == 'LITv2'
    assert litv2['Metadata']['Upstream published (not measured here)']['box_ap'] == 44.9
    assert xcit['In Collection'] == 'xcit_small_12_p16_224 (timm)' and xcit['Task'] == 'Semantic Segmentation'
    assert xcit['Metadata']['Training Memory (GB)'] == 2.8
    collections = {c['Name']: c for c in index['Collections']}
    assert collections['LITv2']['Paper']['URL'] == 'https://arxiv.org/abs/2205.13213'
    assert litv2['Weights'] == 'https://x/mask_rcnn.pth' and 'Weights' not in xcit
    assert litv2['Results'] == [
        dict(Task='Instance Segmentation', Dataset='COCO', Metrics={'box AP': 44.9, 'mask AP': 40.8})
    ]
    cell = model_zoo.published_cell(published['configs/mask_rcnn/litv2_s_fpn_1x_coco.py'])
    assert cell == '44.9 / 40.8 ([weights](https://x/mask_rcnn.pth))'


def test_committed_model_index_covers_every_config() -> None:
    import yaml

    index = yaml.safe_load(open(osp.join(REPO, 'model-index.yml')))
    listed = {m['Config'] for m in index['Models']}
    configs = {
        osp.relpath(p, REPO)
        for task in ('mask_rcnn', 'retinanet', 'sem_fpn', 'upernet', 'imagenet')
        for p in glob.glob(osp.join(REPO, 'configs', task, '*.py'))
    }
    assert listed == configs, 'run tools/analysis/model_zoo.py after adding or removing configs'
    released = {m['Config']: m for m in index['Models'] if 'Weights' in m}
    assert released['configs/mask_rcnn/litv2_s_ws4_fpn_1x_coco.py']['Weights'].endswith('_ws_4.pth')
    assert released['configs/imagenet/litv2_s_in1k.py']['Results'][0]['Metrics'] == {'Top 1 Accuracy': 82.0}
    # upstream's 21 dense models; 14 classifier configs (the alpha-0.9 file is the model of litv2_s_in1k)
    assert len(released) == 21 + 14


def test_model_zoo_cache_key_follows_the_model_only(tmp_path) -> None:
    model_zoo = load_tool('model_zoo')
    base = osp.join(REPO, 'configs/mask_rcnn/litv2_s_fpn_1x_coco.py')
    variable, model = tmp_path / 'variable.py', tmp_path / 'model.py'
    variable.write_text(f"_base_ = '{base}'\nsome_variable = dict(arch='b')\n")
    model.write_text(f"_base_ = '{base}'\nmodel = dict(backbone=dict(drop_path_rate=0.3))\n")
    weights = tmp_path / 'weights.py'
    weights.write_text(f"_base_ = '{base}'\nmodel = dict(backbone=dict(init_cfg=dict(checkpoint='x.pth')))\n")
    digest = model_zoo.model_digest(base)
    assert model_zoo.model_digest(str(variable)) == digest
    assert model_zoo.model_digest(str(weights)) == digest, 'where the weights come from changes no FLOPs'
    assert model_zoo.model_digest(str(model)) != digest


def test_train_speed_reads_clipped_runs_and_imagenet_schedules(tmp_path) -> None:
    train_speed = load_tool('train_speed')
    log = tmp_path / 'run.log'
    config = 'train_dataloader = dict(\n    batch_size=128,\n    num_workers=8)\n'
    lines = [
        f'11/22 09:02:2{i} - mmengine - INFO - Epoch(train)  [1][{5 * (i + 1)}/20]  base_lr: 1.0e-03 '
        f'lr: 1.0e-03  time: {t}  data_time: 0.1  memory: 4204  grad_norm: 8.4635  loss: {6.0 - i}\n'
        for i, t in enumerate([0.9, 0.4, 0.4, 0.4])
    ]
    log.write_text(config + ''.join(lines))
    record = train_speed.measure(str(log), config='configs/imagenet/litv2_s_in1k.py')
    assert (record['s_per_iter'], record['img_per_s'], record['loss_last']) == (0.4, 320.0, 3.0)
    cwd = os.getcwd()
    try:
        os.chdir(REPO)
        table = train_speed.render([record])
    finally:
        os.chdir(cwd)
    # 300 epochs of ceil(1,281,167 / 1024) = 1,252 iterations at 0.4 s on 8 GPUs = 41.7 h
    assert '| litv2_s_in1k.py | 300 epochs, batch 1024 | 375,600 | 41.7 h | 83.5 h | 166.9 h |' in table


def test_train_speed_skips_the_intervals_whose_window_reaches_the_warm_up(tmp_path) -> None:
    train_speed = load_tool('train_speed')
    hooks = "default_hooks = dict(\n    logger=dict(interval=25, type='LoggerHook'))\n"
    window = "log_processor = dict(by_epoch=True, type='LogProcessor', window_size=50)\n"
    # mmengine averages each logged time over the last 50 iterations: the second interval still
    # holds half of the slow first one
    fake_run(tmp_path / 'run', 1, [9.0, 4.6, 0.5, 0.6], extra_config=hooks + window)
    record = train_speed.measure(str(tmp_path / 'run'), config='c.py')
    assert (record['warm_up_intervals'], record['s_per_iter']) == (2, 0.55)
    fake_run(tmp_path / 'short', 1, [9.0, 4.6, 0.5], extra_config=hooks + window)
    with pytest.raises(ValueError, match='window_size=50'):
        train_speed.measure(str(tmp_path / 'short'), config='c.py')
    # as mmengine dumps a longer one: keys sorted, one per line, a nested custom_cfg first
    nested = (
        "log_processor = dict(\n    by_epoch=True,\n    custom_cfg=[\n        dict(data_src='loss', "
        "method_name='mean', window_size=1),\n    ],\n    type='LogProcessor',\n    window_size=50)\n"
    )
    fake_run(tmp_path / 'nested', 1, [9.0, 4.6, 0.5, 0.6], extra_config=hooks + nested)
    assert train_speed.measure(str(tmp_path / 'nested'), config='c.py')['warm_up_intervals'] == 2
    epoch = "log_processor = dict(by_epoch=True, type='LogProcessor', window_size='epoch')\n"
    fake_run(tmp_path / 'epoch', 1, [9.0, 4.6, 0.5, 0.6], extra_config=hooks + epoch)
    with pytest.raises(ValueError, match='integer window'):
        train_speed.measure(str(tmp_path / 'epoch'), config='c.py')


def test_train_speed_compares_runs_with_the_first(tmp_path) -> None:
    train_speed = load_tool('train_speed')
    fake_run(
        tmp_path / 'swin',
        1,
        [9.0, 0.50, 0.50, 0.50],
        # another dict's constructor key is not the optimizer's
        extra_config="custom_hooks = [\n    dict(constructor='MergedGroupsOptimWrapperConstructor'),\n]\n"
        "optim_wrapper = dict(\n    constructor='DefaultOptimWrapperConstructor',\n"
        "    loss_scale='dynamic')\n",
    )
    fake_run(tmp_path / 'plain', 1, [9.0, 0.50, 0.50, 0.50])
    fake_run(
        tmp_path / 'litv2',
        1,
        [9.0, 0.40, 0.40, 0.40],
        data_seconds=[5.0, 0.1, 0.2, 0.05],  # the warm-up's wait is not counted
        extra_config="compile_modules = [\n    'backbone',\n]\n"
        "optim_wrapper = dict(\n    constructor='vitdense.MergedGroupsOptimWrapperConstructor',\n"
        "    loss_scale='dynamic')\n",
        model="model = dict(\n    backbone=dict(type='LITv2', with_cp=True),\n"
        '    train_cfg=dict(\n        rcnn=dict(\n            sampler=dict(\n'
        "                num=512,\n                type='vitdense.OnDeviceRandomSampler')),\n"
        '        rpn=dict(\n            sampler=dict(\n                num=256,\n'
        "                type='OnDeviceRandomSampler'))),\n    type='MaskRCNN')\n",
    )
    swin, litv2 = (
        train_speed.measure(str(tmp_path / n), config=f'configs/mask_rcnn/{n}.py') for n in ('swin', 'litv2')
    )
    for record in (swin, litv2):
        train_speed.compare(record, swin, '2026-01-01T00:00:00')
        record.update(device='GPU', date='2026-01-01')
    assert (swin['compiled'], litv2['compiled'], litv2['time_ratio']) == (False, True, 0.8)
    assert not litv2['cuda_graphs']
    constructors = [swin['optim_constructor'], litv2['optim_constructor']]
    assert constructors == ['DefaultOptimWrapperConstructor', 'MergedGroupsOptimWrapperConstructor']
    # the model's samplers, scope dropped; a dataloader's sampler is not the model's
    assert (swin['samplers'], litv2['samplers']) == (
        {},
        {'rcnn': ['OnDeviceRandomSampler'], 'rpn': ['OnDeviceRandomSampler']},
    )
    assert (
        train_speed.measure(str(tmp_path / 'plain'), config='c.py')['optim_constructor'] is None
    )  # no optim_wrapper logged
    table = train_speed.render([swin, litv2])
    assert '(baseline: swin.py)' in table
    assert (swin['with_cp'], litv2['with_cp']) == (False, True)  # the backbone's activation checkpointing
    assert '| litv2.py (with_cp) | yes | merged | on GPU | 0.4000 | 0.1000 | 0.80x | 5.0 |' in table
    assert "| swin.py | no | mmengine's | - | 0.5000 | 0.0100 | 1.00x |" in table
    for record in (swin, litv2):  # records from before the samplers and data waits were read
        del record['samplers']
        del record['data_s_per_iter']
    assert "| swin.py | no | mmengine's | 0.5000 | 1.00x |" in train_speed.render([swin, litv2])
    assert 'parallel efficiency' not in table  # no scaling records: no scaling table
    # build_runner's line when the compiled modules replay CUDA graphs, as 26a9069 and as now
    log = next((tmp_path / 'litv2').glob('*/*.log'))
    text = log.read_text()
    for line in ('replaying CUDA graphs of static sizes', 'replaying CUDA graphs'):
        log.write_text(
            f'{text}12/01 00:00:09 - mmengine - INFO - torch.compile: backbone, neck of MaskRCNN, {line}\n'
        )
        graphs = train_speed.measure(str(tmp_path / 'litv2'), config='configs/mask_rcnn/litv2.py')
        assert graphs['cuda_graphs']
        train_speed.compare(graphs, swin, '2026-01-01T00:00:00')
        graphs.update(device='GPU', date='2026-01-01')
        assert '| litv2.py (with_cp) | yes, CUDA graphs | merged |' in train_speed.render([swin, graphs])
    fake_run(tmp_path / 'four', 4, [9.0, 0.40, 0.40, 0.40])
    with pytest.raises(ValueError, match='GPUs, images per GPU'):
        train_speed.compare(train_speed.measure(str(tmp_path / 'four'), config='c.py'), swin, 'x')


@pytest.mark.parametrize(
    ('asked', 'device', 'cuda_graphs'), [(False, 'meta', False), (True, 'meta', True), (True, 'cpu', False)]
)
def test_build_runner_compiles_with_the_configs_cuda_graphs_and_train_speed_reads_its_line(
    monkeypatch, asked: bool, device: str, cuda_graphs: bool
) -> None:
    """CUDA graphs where the config asks and the model is on a GPU (here a CUDA-like stand-in)."""
    from mmengine.config import Config

    from vitdense.utils import launch

    model = torch.nn.Module()
    model.backbone, model.neck = torch.nn.Linear(2, 2, device=device), torch.nn.Identity()
    monkeypatch.setattr(torch.Tensor, 'is_cuda', property(lambda t: t.device.type == 'meta'))
    options, lines = [], []
    monkeypatch.setattr(torch.nn.Module, 'compile', lambda self, **kw: options.append(kw['options']))
    monkeypatch.setattr(launch.Runner, 'from_cfg', lambda cfg: types.SimpleNamespace(model=model))
    monkeypatch.setattr(launch, 'print_log', lambda message, logger: lines.append(message))
    cfg = Config(dict(compile_modules=['backbone', 'neck'], compile_cudagraphs=asked))
    launch.build_runner(cfg)
    assert options == [launch.CUDA_GRAPH_OPTIONS if cuda_graphs else None] * 2
    (line,) = lines
    parsed = load_tool('train_speed').parse_log(f'12/01 00:00:09 - mmengine - INFO - {line}\n')
    assert parsed['cuda_graphs'] is cuda_graphs


def test_train_speed_reads_each_stages_own_sampler() -> None:
    """A sampler's own type, not a nested sampler's (mmengine sorts ``neg_sampler`` before ``type``)."""
    train_speed = load_tool('train_speed')
    model = (
        'model = dict(\n    train_cfg=dict(\n        rcnn=[\n'
        '            dict(\n                sampler=dict(\n'
        "                    neg_sampler=dict(floor_thr=-1, type='IoUBalancedNegSampler'),\n"
        "                    pos_sampler=dict(type='InstanceBalancedPosSampler'),\n"
        "                    type='CombinedSampler')),\n"
        "            dict(sampler=dict(num=512, type='mmdet.RandomSampler')),\n        ],\n"
        "        rpn=dict(sampler=dict(num=256, type='RandomSampler'))),\n    type='CascadeRCNN')\n"
    )
    samplers = train_speed.train_samplers(model)
    assert samplers == {'rcnn': ['CombinedSampler', 'RandomSampler'], 'rpn': ['RandomSampler']}
    # only the model's own backbone's with_cp=True counts
    for logged, with_cp in (
        (model, False),
        ("model = dict(\n    backbone=dict(type='SGFormer', with_cp=False),\n    type='X')\n", False),
        (
            "model = dict(\n    backbone=dict(\n        type='LIT',\n        with_cp=True),\n    type='X')\n",
            True,
        ),
        ("model = dict(\n    neck=dict(with_cp=True),\n    type='X')\n", False),
    ):
        assert train_speed.backbone_with_cp(logged) is with_cp
    label = train_speed.samplers_label(dict(samplers=samplers))
    assert label == "rcnn: CombinedSampler, mmdet's (CPU); rpn: mmdet's (CPU)"
    assert train_speed.train_samplers("model = dict(type='DINO')\n") == {}


def test_train_speed_compares_captured_logs_of_several_configs(tmp_path, capsys) -> None:
    """Captured `tools/train.py` outputs, one config per log (a peer's own config first)."""
    train_speed = load_tool('train_speed')
    fake_run(tmp_path / 'peer', 1, [9.0, 0.50, 0.50, 0.50])
    fake_run(tmp_path / 'litv2', 1, [9.0, 0.40, 0.40, 0.40])
    logs = [str(next((tmp_path / n).glob('2*/2*.log'))) for n in ('peer', 'litv2')]
    peer = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
    argv = [
        'train_speed.py',
        *logs,
        '--compare',
        '--config',
        peer,
        'configs/mask_rcnn/litv2_s_fpn_1x_coco.py',
    ]
    with mock.patch.object(sys, 'argv', argv):
        train_speed.main()
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r['config'], r['time_ratio']) for r in records] == [
        (peer, 1.0),
        ('configs/mask_rcnn/litv2_s_fpn_1x_coco.py', 0.8),
    ]
    with (
        mock.patch.object(sys, 'argv', argv[:-1] + [peer, peer]),
        pytest.raises(SystemExit, match='one per run'),
    ):
        train_speed.main()


def test_vs_upstream_ratios_are_per_run_task_and_arch_failures_are_shown_and_tag_picks_the_section(
    tmp_path, monkeypatch
) -> None:
    common = dict(batch=128, shape=[224, 224], dtype='fp16', device='GPU', date='2026-12-03', code='c')
    records = [
        dict(common, run='r1', arch='a', variant='up', img_s=100.0, mem_gib=2.0),
        dict(common, run='r1', arch='b', variant='up', img_s=50.0, mem_gib=1.0),
        dict(common, run='r1', arch='a', variant='vd_c', img_s=150.0, mem_gib=1.5),
        dict(common, run='r1', arch='a', variant='vd_g', img_s=230.0, mem_gib=1.4),
        dict(common, run='r1', arch='b', variant='vd_c', error='InductorError: boom'),
        dict(common, run='r1', arch='b', variant='vd', path='mm', img_s=60.0, mem_gib=1.0),
        dict(common, run='r2', arch='a', variant='vd', img_s=120.0, mem_gib=1.0),  # no upstream in r2
        dict(
            common,
            run='r3',
            arch='a',
            variant='up',
            img_s=100.0,
            img_s_windows=[90.0, 100.0, 104.0],
            mem_gib=2.0,
        ),
        dict(common, run='r3', arch='a', variant='vd_c', error='Boom'),
        dict(common, run='r3', task='dense', arch='a', variant='vd_c', img_s=30.0, mem_gib=1.0),
        dict(common, run='r3', task='dense', arch='a', variant='up', img_s=20.0, mem_gib=1.0),
        dict(common, run='r3', task='dense', arch='a', variant='vd_cd', img_s=41.0, mem_gib=0.5),
    ]
    path = tmp_path / 'r.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    doc = tmp_path / 'doc.md'
    doc.write_text('# x\n<!-- vs_upstream:begin -->\nold\n<!-- vs_upstream:end -->\ntail\n')
    monkeypatch.setattr(sys, 'argv', ['vs_upstream.py', '--update', str(doc), '--records', str(path)])
    load_tool('vs_upstream').main()
    text = doc.read_text()
    assert 'old' not in text and text.endswith('<!-- vs_upstream:end -->\ntail\n')
    assert '| a | vitdense, compiled without CUDA graphs | 150.0 | 1.50x | 1.50 |' in text
    assert '| a | vitdense, --compile (CUDA graphs) | 230.0 | 2.30x | 1.40 |' in text
    assert '| b | vitdense, eager (mm) | 60.0 | 1.20x | 1.00 |' in text
    assert '| b | vitdense, compiled without CUDA graphs | failed: InductorError: boom | | |' in text
    assert '| a | vitdense, eager | 120.0 |  | 1.00 |' in text
    assert text.count('**train, classifier, 224x224, batch 128, fp16**') == 3
    assert '| a | upstream, eager | 100.0 | 1.00x | 2.00 | 90.0 / 100.0 / 104.0 |' in text
    assert '| a | vitdense, compiled without CUDA graphs | failed: Boom | | | |' in text
    assert text.count('timed windows') == 1  # runs without windows keep their columns
    assert text.count('**train, backbone, 224x224, batch 128, fp16**') == 1  # its own table and baseline
    assert '| a | vitdense, compiled without CUDA graphs | 30.0 | 1.50x | 1.00 |' in text
    assert '| a | vitdense, --compile (sizes dynamic) | 41.0 | 2.05x | 0.50 |' in text
    # --tag rewrites another section and leaves the first one as it is
    doc.write_text(text + '<!-- other:begin -->\nold\n<!-- other:end -->\n')
    monkeypatch.setattr(
        sys, 'argv', ['vs_upstream.py', '--update', str(doc), '--records', str(path), '--tag', 'other']
    )
    load_tool('vs_upstream').main()
    other = doc.read_text()
    assert other.startswith(text) and 'old' not in other
    assert '| a | vitdense, --compile (sizes dynamic) | 41.0 | 2.05x | 0.50 |' in other[len(text) :]


GENERATED_DOCS = sorted(
    osp.relpath(path, REPO)
    for path in glob.glob(osp.join(REPO, '*.md'))
    + glob.glob(osp.join(REPO, 'docs', '**', '*.md'), recursive=True)
    if ':begin -->' in open(path).read()
)


@pytest.mark.parametrize('doc', GENERATED_DOCS)
def test_generated_sections_are_what_their_tools_render_from_the_named_records(doc) -> None:
    """Figures in the docs come from the tools: every generated section re-renders unchanged."""
    text = open(osp.join(REPO, doc)).read()
    sections = re.findall(
        r'<!-- (\w+):begin -->\n_Generated by `([^`]+)` from ([^\n]+?)\._\n\n(.*?)\n<!-- \1:end -->',
        text,
        re.S,
    )
    assert sections and len(sections) == text.count(':begin -->')
    for _, tool, sources, body in sections:
        paths = re.findall(r'`([^`]+)`', sources)
        records = read_jsonl([osp.join(REPO, p) for p in paths])
        assert load_tool(osp.basename(tool).removesuffix('.py')).render(records) == body, (doc, tool)
