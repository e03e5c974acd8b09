"""Inference (or training) throughput and peak memory of a config's model or a backbone.

A config is timed end to end in ``predict`` mode (post-processing included, data
loading excluded) on random images of ``--shape``, padded like its data
preprocessor pads. A backbone (``--backbone LITv2 --arch s``) is timed alone,
forward only or, with ``--train``, forward + backward + optimizer step.
Timings use CUDA events after warm-up; run several configs in one call to
compare them in the same process. Each result also gives the achieved TFLOP/s (the
FLOPs counted as ``get_flops.py`` counts them, x3 for a training step), and with
``--compile`` every model is timed eagerly and again through ``torch.compile``.

Examples:
    python tools/analysis/benchmark.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py \
        mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py --shape 800 1333
    python tools/analysis/benchmark.py --backbone LITv2 --arch s --shape 224 224 --batch-size 256 --dtype bf16
    python tools/analysis/benchmark.py --backbone LITv2 --shape 224 224 --batch-size 128 --train --compile
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import torch
from mmengine.registry import MODELS

from vitdense.utils.analysis import build_model, count_macs, dummy_batch

DTYPES = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def timed(step: Callable[[], object], iters: int, warmup: int, device: str) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls (peak memory counts from there)."""
    for _ in range(warmup):
        step()
    if device == 'cuda':
        torch.cuda.synchronize()
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


def benchmark(
    name: str, step: Callable[[], object], args: argparse.Namespace, device: str, macs: int, compiled: bool
) -> None:
    """Time ``step`` and report img/s, s/iter, achieved TFLOP/s and peak memory.

    ``macs`` are the multiply-adds of one forward of the batch; a training step counts 3x.
    """
    autocast = (
        torch.autocast(device_type=device, dtype=DTYPES[args.dtype]) if DTYPES[args.dtype] else nullcontext()
    )
    if device == 'cuda':
        torch.cuda.empty_cache()
    with autocast:
        seconds = timed(step, args.iters, args.warmup, device)
    result = dict(
        name=name,
        mode='train' if args.train else 'inference',
        dtype=args.dtype,
        shape=list(args.shape),
        batch_size=args.batch_size,
        compile=compiled,
        s_per_iter=round(seconds, 5),
        img_per_s=round(args.batch_size / seconds, 2),
        tflop_per_s=round(2 * macs * (3 if args.train else 1) / seconds / 1e12, 4),
        peak_mem_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == 'cuda' else None,
        device=torch.cuda.get_device_name() if device == 'cuda' else 'cpu',
        date=datetime.date.today().isoformat(),
    )
    print(json.dumps(result), flush=True)
    if args.json:  # appended at once: a later model that fails does not lose this one
        with open(args.json, 'a') as f:
            f.write(json.dumps(result) + '\n')


def backbone_step(model: torch.nn.Module, x: torch.Tensor, train: bool, dtype: str) -> Callable[[], object]:
    """Forward only, or forward + backward + AdamW step (with loss scaling for fp16)."""
    if not train:
        model.eval()
        return lambda: torch.no_grad()(model)(x)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(x.device.type, enabled=dtype == 'fp16')

    def step() -> None:
        loss = sum(o.float().pow(2).mean() for o in model(x))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return step


def main() -> None:
    """Parse the arguments and benchmark each config or the backbone."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('config', nargs='*', help='config file(s) (or mmdet::/mmseg:: package configs)')
    parser.add_argument('--backbone', help='time a registered backbone instead, e.g. LITv2')
    parser.add_argument('--arch', default='s', help='backbone size with --backbone')
    parser.add_argument('--shape', type=int, nargs=2, default=(800, 1333), metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='fp32', help='autocast dtype (fp32: none)')
    parser.add_argument('--train', action='store_true', help='backbone only: forward + backward + AdamW step')
    parser.add_argument('--iters', type=int, default=50)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--compile', action='store_true', help='also time each model through torch.compile')
    parser.add_argument('--json', help='append the results to this JSON-lines file')
    args = parser.parse_args()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.backends.cudnn.benchmark = True

    modes = [False, True] if args.compile else [False]
    if args.backbone:
        model = MODELS.build(dict(type=args.backbone, arch=args.arch)).to(device)
        x = torch.randn(args.batch_size, 3, *args.shape, device=device)
        macs = count_macs(lambda: model.eval()(x))
        for compiled in modes:
            # a detector's heads run on data-dependent shapes: only backbones and necks are compiled
            net = torch.compile(model) if compiled else model
            step = backbone_step(net, x, args.train, args.dtype)
            benchmark(f'{args.backbone}-{args.arch}', step, args, device, macs, compiled)
    elif args.train:
        parser.error('--train times a backbone; time detector training with tools/train.py logs')
    for config in args.config:
        cfg, model = build_model(config)
        model = model.to(device).eval()
        inputs, samples = dummy_batch(cfg, args.shape, args.batch_size, device)
        step = partial(torch.no_grad()(model), inputs, samples, mode='predict')
        macs = count_macs(step)
        for compiled in modes:
            if compiled:
                model.backbone = torch.compile(model.backbone)
                if getattr(model, 'neck', None) is not None:
                    model.neck = torch.compile(model.neck)
            benchmark(config, step, args, device, macs, compiled)


if __name__ == '__main__':
    main()
