"""Inference (or training) throughput and peak memory of configs' models or of backbones.

A config is timed end to end in ``predict`` mode (post-processing included, data
loading excluded) on random images of ``--shape``, padded like its data
preprocessor pads; ``--part features`` times its backbone + neck alone (what
``--compile`` compiles in ``tools/train.py``), forward only or, with ``--train``,
forward + backward + AdamW step. A registered backbone (``--backbone LITv2:s``) is timed
alone the same way. Timings use CUDA events after warm-up. The models of one call are
one *run*: the first is its baseline, and ``--update`` renders each later one as a
ratio against it, so compare models in one call. Each result also gives the achieved
TFLOP/s (the FLOPs counted as ``get_flops.py`` counts them, x3 for a training step) and
its share of the GPU's dense bf16/fp16 peak. Every model is timed eagerly, with
``--reference`` again on its reference path (the modules with a ``reference`` switch:
SG-Former's attention, LIT / LITv2 token merging, the ConvFFN's fused depth-wise convolution + GELU)
and with ``--compile`` through ``torch.compile``
(``--cuda-graphs``: replaying CUDA graphs, as ``tools/train.py``'s ``--compile`` does for classification
configs and, with ``compile_cudagraphs=True``, for the others; variant ``compiled-cudagraphs``).
``--reference-only CLASS`` times every variant with only the modules of that class on their reference
path (e.g. ``ConvFFN``: cuDNN's convolution and the GELU instead of the fused kernel), marked
``(reference: CLASS)``; the same command without it times the default path.
``--with-cp`` (with ``--train``) builds the backbones with ``with_cp=True``, checkpointing each block's
activations (its rows read ``(with_cp)``). Peak memory counts from after the warm-up, except for a
CUDA-graph variant: its graphs take their memory while recorded in the warm-up, so its peak counts
from the warm-up's start, compiling included (an upper bound; its cell says ``(from warm-up)``).

Examples:
    python tools/analysis/benchmark.py configs/mask_rcnn/swin_t_fpn_1x_coco.py \
        configs/mask_rcnn/litv2_s_fpn_1x_coco.py --shape 800 1333
    python tools/analysis/benchmark.py --backbone LITv2:s --shape 224 224 --batch-size 256 --dtype bf16
    python tools/analysis/benchmark.py --backbone LITv2:s LITv2:m --shape 224 224 --batch-size 128 \
        --dtype fp16 --train --compile --json bench.jsonl
    python tools/analysis/benchmark.py configs/mask_rcnn/cbvit_s_fpn_1x_coco.py \
        configs/mask_rcnn/cbvit_cb_s_fpn_1x_coco.py --part features --train --shape 800 1216 --batch-size 2
    python tools/analysis/benchmark.py --update docs/benchmarks.md --records docs/measurements/*_bench*.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import os.path as osp
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import torch
from mmengine.registry import MODELS
from torch import nn

from vitdense.utils.analysis import (
    build_model,
    count_macs,
    dummy_batch,
    read_jsonl,
    rewrite_generated,
    set_reference,
    with_cp_label,
)
from vitdense.utils.launch import (
    COMPILED_MODULES,
    compile_modules,
    compile_options,
    mend_inductor,
    task_scope,
)

DTYPES = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def timed(
    step: Callable[[], object], iters: int, warmup: int, device: str, peak_after_warmup: bool = True
) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls.

    Args:
        step: One iteration.
        iters: Timed calls.
        warmup: Calls before timing (the first compiles a compiled model).
        device: ``'cuda'`` (timed with CUDA events) or ``'cpu'``.
        peak_after_warmup: Reset the peak memory after the warm-up. False keeps the peak the caller
            reset before it: replayed CUDA graphs allocate nothing (their memory is taken while they
            are recorded, in the warm-up, and stays reserved), so a peak reset after the warm-up
            would miss it. It then also counts compiling, so it bounds the step's memory from above.

    Returns:
        Seconds per timed call.
    """
    for _ in range(warmup):
        step()
    if device == 'cuda':
        torch.cuda.synchronize()
        if peak_after_warmup:
            torch.cuda.reset_peak_memory_stats()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            step()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000 / iters
    begin = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - begin) / iters


#: Dense bf16 / fp16 tensor-core peak of a GPU in TFLOP/s (vendor data sheets, SXM parts).
PEAK_TFLOPS = {'NVIDIA H200': 989.0, 'NVIDIA H100 80GB HBM3': 989.0, 'NVIDIA A100-SXM4-80GB': 312.0}
PARTS = {'backbone': 'backbone', 'features': 'backbone + neck', 'model': 'whole model'}


def benchmark(
    name: str,
    step: Callable[[], object],
    args: argparse.Namespace,
    device: str,
    macs: int,
    variant: str,
    part: str,
) -> None:
    """Time ``step`` and report img/s, s/iter, achieved TFLOP/s and peak memory.

    ``macs`` are the multiply-adds of one forward of the batch; a training step counts 3x.
    ``part`` is what is timed: ``'backbone'``, ``'features'`` (backbone + neck) or ``'model'``.
    """
    autocast = (
        torch.autocast(device_type=device, dtype=DTYPES[args.dtype]) if DTYPES[args.dtype] else nullcontext()
    )
    graphs = variant.startswith('compiled-cudagraphs')
    if device == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with autocast:
        seconds = timed(step, args.iters, args.warmup, device, peak_after_warmup=not graphs)
    gpu = torch.cuda.get_device_name() if device == 'cuda' else 'cpu'
    tflops = 2 * macs * (3 if args.train else 1) / seconds / 1e12
    result = dict(
        name=name,
        part=part,
        mode='train' if args.train else 'inference',
        dtype=args.dtype,
        shape=list(args.shape),
        batch_size=args.batch_size,
        compile=variant.startswith('compiled'),
        variant=variant,
        s_per_iter=round(seconds, 5),
        img_per_s=round(args.batch_size / seconds, 2),
        tflop_per_s=round(tflops, 4),
        peak_fraction=round(tflops / PEAK_TFLOPS[gpu], 4)
        if gpu in PEAK_TFLOPS and args.dtype != 'fp32'
        else None,
        peak_mem_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == 'cuda' else None,
        device=gpu,
        date=datetime.date.today().isoformat(),
        run=args.run,
        **({'with_cp': True} if args.with_cp else {}),
        # replays allocate nothing: a CUDA-graph step's peak counts from before its warm-up (see timed)
        **({'peak_mem_from': 'warm-up'} if graphs else {}),
    )
    print(json.dumps(result), flush=True)
    if args.json:  # appended at once: a later model that fails does not lose this one
        with open(args.json, 'a') as f:
            f.write(json.dumps(result) + '\n')


def train_step(forward: Callable[[], object], params: list, dtype: str) -> Callable[[], None]:
    """Forward + backward of the squared outputs + AdamW step (with loss scaling for fp16)."""
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    scaler = torch.amp.GradScaler('cuda' if torch.cuda.is_available() else 'cpu', enabled=dtype == 'fp16')

    def step() -> None:
        loss = sum(o.float().pow(2).mean() for o in forward())
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return step


def variants(args: argparse.Namespace) -> list[str]:
    """The ways each model is timed, in order (marked when ``--reference-only`` switched modules)."""
    compiled = 'compiled-cudagraphs' if args.cuda_graphs else 'compiled'
    names = ['eager'] + ['reference'] * args.reference + [compiled] * args.compile
    if args.reference_only:
        return [f'{name} (reference: {", ".join(args.reference_only)})' for name in names]
    return names


def time_variants(
    name: str,
    part: str,
    model: nn.Module,
    forward: Callable[[], object],
    trained: list[nn.Module],
    compile_: Callable[[], object],
    macs: int,
    args: argparse.Namespace,
    device: str,
) -> None:
    """Time ``forward`` of ``model`` eagerly, on its reference path and compiled, as the arguments ask.

    Args:
        name: The name recorded.
        part: What ``forward`` runs: ``'backbone'``, ``'features'`` or ``'model'``.
        model: The model, switched to its reference path and to train / eval mode.
        forward: One forward of the batch (through the compiled modules once ``compile_`` ran).
        trained: The modules whose parameters a training step updates.
        compile_: Compiles the model's dense part in place (the last variant).
        macs: Multiply-adds of one forward.
        args: The parsed arguments.
        device: ``'cuda'`` or ``'cpu'``.
    """
    if args.reference_only:
        set_reference(model, True, args.reference_only)
    for variant in variants(args):
        if args.reference:
            set_reference(model, variant == 'reference')
        if variant.startswith('compiled'):
            compile_()
        model.train(args.train)
        if args.train:
            step = train_step(forward, [p for m in trained for p in m.parameters()], args.dtype)
        else:
            step = torch.no_grad()(forward)
        benchmark(name, step, args, device, macs, variant, part)


def time_backbone(spec: str, args: argparse.Namespace, device: str) -> None:
    """Time a registered backbone, ``TYPE`` or ``TYPE:ARCH``, in every variant."""
    kind, _, arch = spec.partition(':')
    torch.backends.cudnn.benchmark = True
    extra = dict(with_cp=True) if args.with_cp else {}
    model = MODELS.build(dict(type=kind, arch=arch or args.arch, **extra)).to(device).eval()
    forward = partial(model, torch.randn(args.batch_size, 3, *args.shape, device=device))
    macs = count_macs(forward)
    name = f'{kind}-{arch or args.arch}'
    compile_ = partial(model.compile, options=compile_options(args.cuda_graphs))
    time_variants(name, 'backbone', model, forward, [model], compile_, macs, args, device)


def time_config(config: str, args: argparse.Namespace, device: str) -> None:
    """Time a config's model end to end (``--part model``) or its backbone + neck, in every variant."""
    cfg, model = build_model(config, {'model.backbone.with_cp': True} if args.with_cp else None)
    # a detector's RoI heads meet new shapes every step: cuDNN's autotuning would time each
    torch.backends.cudnn.benchmark = args.part == 'features' or task_scope(cfg) != 'mmdet'
    model = model.to(device).eval()
    inputs, samples = dummy_batch(cfg, args.shape, args.batch_size, device)
    if args.part == 'model':
        forward = partial(model, inputs, samples, mode='predict')
    else:

        def forward() -> object:
            # the model's own call begins a CUDA-graph step (compile_modules' hook); extract_feat does not
            if args.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            return model.extract_feat(inputs)

    macs = count_macs(forward)
    dense = [m for m in (getattr(model, n, None) for n in COMPILED_MODULES) if isinstance(m, nn.Module)]
    # a detector's heads run on data-dependent shapes: --compile compiles the dense part only
    compile_ = partial(compile_modules, model, COMPILED_MODULES, args.cuda_graphs)
    time_variants(config, args.part, model, forward, dense, compile_, macs, args, device)


def render(records: list[dict]) -> str:
    """One table per run and setting: each row's speed as a ratio against the run's first model."""
    groups: dict[tuple, list[dict]] = {}
    for i, r in enumerate(records):
        # records written before ``part``: a registered backbone is named TYPE-ARCH, a config by its path
        part = r.get('part') or ('backbone' if '/' not in r['name'] and '::' not in r['name'] else 'model')
        key = (
            r.get('run', i),  # a record written before ``run`` is compared with nothing
            PARTS[part],
            r['mode'],
            r['dtype'],
            tuple(r['shape']),
            r['batch_size'],
        )
        groups.setdefault(key, []).append(r)
    blocks = []
    for (_, what, mode, dtype, shape, batch), rows in groups.items():
        base = rows[0]['img_per_s']
        lines = [
            f'**{mode}, {what}, {shape[0]}x{shape[1]}, batch {batch}, {dtype}** '
            f'({rows[0]["device"]}, {rows[0]["date"]}; baseline: the first row)',
            '',
            '| model | variant | img/s | vs baseline | TFLOP/s | share of peak | peak memory (GiB) |',
            '|---|---|---:|---:|---:|---:|---:|',
        ]
        for r in rows:
            name = with_cp_label(osp.basename(r['name']).removesuffix('.py'), r.get('with_cp', False))
            share = f'{r["peak_fraction"]:.1%}' if r.get('peak_fraction') is not None else ''
            variant = r.get('variant', 'compiled' if r.get('compile') else 'eager')
            tflops = f'{r["tflop_per_s"]:.1f}' if 'tflop_per_s' in r else ''
            memory = r.get('peak_mem_gib') or ''
            if memory and r.get('peak_mem_from') == 'warm-up':
                memory = f'{memory} (from warm-up)'
            lines.append(
                f'| {name} | {variant} | {r["img_per_s"]:.1f} | {r["img_per_s"] / base:.2f}x '
                f'| {tflops} | {share} | {memory} |'
            )
        blocks.append('\n'.join(lines))
    return '\n\n'.join(blocks)


def main() -> None:
    """Parse the arguments and benchmark each backbone and config, or render records."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('config', nargs='*', help='config file(s) (or mmdet::/mmseg:: package configs)')
    parser.add_argument('--backbone', nargs='*', default=[], help='registered backbones, TYPE or TYPE:ARCH')
    parser.add_argument('--arch', default='s', help='size of a --backbone given without one')
    parser.add_argument(
        '--part',
        choices=['model', 'features'],
        default='model',
        help="configs: the whole model's predict, or its backbone + neck (extract_feat)",
    )
    parser.add_argument('--shape', type=int, nargs=2, default=(800, 1333), metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='fp32', help='autocast dtype (fp32: none)')
    parser.add_argument('--train', action='store_true', help='forward + backward + AdamW step')
    parser.add_argument('--iters', type=int, default=50)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--compile', action='store_true', help='also time each model through torch.compile')
    parser.add_argument(
        '--cuda-graphs',
        action='store_true',
        help="with --compile, replay CUDA graphs (tools/train.py's compile_cudagraphs)",
    )
    parser.add_argument('--reference', action='store_true', help='also time each model on its reference path')
    parser.add_argument(
        '--reference-only',
        nargs='+',
        default=[],
        metavar='CLASS',
        help='time every variant with only the modules of these classes (e.g. ConvFFN) on their reference '
        'path, marked "(reference: CLASS)"; run without it in another call for the default path',
    )
    parser.add_argument(
        '--with-cp',
        action='store_true',
        help='build the backbones with with_cp=True (activation checkpointing in training steps)',
    )
    parser.add_argument(
        '--run',
        help="the run the results belong to, one table per run (default: the call's start time); "
        'give two calls the same one to compare them, e.g. with and without --reference-only',
    )
    parser.add_argument('--json', help='append the results to this JSON-lines file')
    parser.add_argument('--update', help='Markdown file whose generated section is rewritten from --records')
    parser.add_argument('--records', nargs='*', default=[], help='JSON-lines files of earlier results')
    args = parser.parse_intermixed_args()
    if args.cuda_graphs and not args.compile:
        parser.error('--cuda-graphs applies to the compiled variant: add --compile')
    if args.reference and args.reference_only:
        parser.error('--reference switches every module; --reference-only switches the named ones')
    if args.with_cp and not args.train:
        parser.error('--with-cp checkpoints activations for backward: add --train')
    if args.update:
        records = read_jsonl(args.records)
        rewrite_generated(
            args.update, 'benchmark', 'tools/analysis/benchmark.py', args.records, render(records)
        )
        print(f'updated {args.update} from {len(records)} results')
        return
    if args.train and args.config and args.part == 'model':
        parser.error('--train times backbones or --part features; time whole detectors with tools/train.py')
    misplaced = [spec for spec in args.backbone if spec.endswith('.py')]
    if misplaced:
        parser.error(f'{misplaced} read as backbones: give configs before --backbone')
    if not args.config and not args.backbone:
        parser.error('give configs, --backbone TYPE[:ARCH] or --update')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    args.run = args.run or datetime.datetime.now().isoformat(timespec='seconds')
    if args.compile:
        mend_inductor()
    for spec in args.backbone:
        time_backbone(spec, args, device)
    for config in args.config:
        time_config(config, args, device)


if __name__ == '__main__':
    main()
