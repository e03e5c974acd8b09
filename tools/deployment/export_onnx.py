r"""Export a config's model to ONNX and check it in ONNX Runtime against PyTorch.

What the graph holds for each part and task is in :mod:`vitdense.deploy.onnx`: the backbone
(``--backbone``), backbone + neck (``--part neck``), or the whole model (default): class scores,
segmentation logits and label map, or a detector's boxes, scores and labels after NMS (and Mask
R-CNN's 28 x 28 masks of their classes) for one image, whose second input is the image's height
and width inside the padded input. Pre-processing (normalisation, padding) is not in the graph:
feed normalised images. Detections are in the input's pixels; ``detector_predict`` rescales them
and pastes the masks as mmdet does.

After exporting it runs the file in ONNX Runtime on a random input (``--dynamic``: on two
sizes) and prints the largest relative difference against PyTorch; it exits non-zero past
``--tolerance``, except where the model is sensitive to float32 rounding and the difference stays
within the bounds :func:`~vitdense.deploy.onnx.check_onnx` allows for it (printed, with a warning
where the wider, SG-Former's, applied). Detectors are compared on their boxes, scores and masks.

Needs ``pip install -e .[deploy]`` (onnx, onnxscript >= 0.7.1, onnxruntime >= 1.27).

Examples:
    python tools/deployment/export_onnx.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py --backbone --dynamic
    python tools/deployment/export_onnx.py configs/upernet/litv2_s_160k_ade20k.py \\
        --checkpoint work_dirs/upernet/iter_160000.pth --shape 512 512 --out upernet.onnx
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys
import time

import torch

import vitdense  # noqa: F401  (registers the models and the checkpoint loaders)
from vitdense.deploy.onnx import (
    DEFAULT_OPSET,
    PARTS,
    DetectorModel,
    ExportError,
    check_onnx,
    check_requirements,
    detector_predict,
    export_onnx,
    exportable,
    run_onnx,
)
from vitdense.models.backbones.spectformer import SpectralGating
from vitdense.utils.analysis import build_model, dummy_batch
from vitdense.utils.checkpoint_io import TRUST_HELP, trust_from_args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('config', help='config file')
    parser.add_argument('--checkpoint', help='checkpoint file or URL (default: the initialised model)')
    parser.add_argument('--part', choices=PARTS, default='model', help='what to export (default: model)')
    parser.add_argument('--backbone', action='store_true', help='same as --part backbone')
    parser.add_argument(
        '--shape', type=int, nargs=2, metavar=('H', 'W'), help='input size (default: 224 224)'
    )
    parser.add_argument('--dynamic', action='store_true', help='symbolic height and width')
    parser.add_argument(
        '--opset',
        type=int,
        default=DEFAULT_OPSET,
        help=f'ONNX opset (>= 16 with LIT / LITv2; below 18 converted down; default {DEFAULT_OPSET})',
    )
    parser.add_argument('--out', help='output file (default: <config name>_<part>.onnx)')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest relative difference allowed (float32-sensitive models: see check_onnx)',
    )
    parser.add_argument('--no-optimize', action='store_true', help="skip the exporter's graph optimiser")
    parser.add_argument('--no-check', action='store_true', help='export only')
    parser.add_argument('--trust-checkpoint', action='append', metavar='FILE_OR_URL', help=TRUST_HELP)
    return parser.parse_args(argv)


def _in_box_order(instances):
    """Detections sorted by label, then box (rounded to 0.1 px): equal scores may come in any order."""
    if len(instances) == 0:
        return instances
    keys = torch.cat([instances.labels[:, None].float(), (instances.bboxes * 10).round()], dim=1)
    order = sorted(range(len(instances)), key=lambda i: keys[i].tolist())
    return instances[torch.tensor(order)]


def _check_detector(
    wrapper: DetectorModel, path: str, cfg, shape: tuple[int, int], tolerance: float
) -> tuple[float, int]:
    """Boxes, scores, labels (and masks) from ONNX Runtime vs ``model.predict``; (difference, count)."""
    inputs, samples = dummy_batch(cfg, shape)
    with torch.no_grad():
        (expected,) = wrapper.model.predict(inputs, [s.clone() for s in samples])
    outputs = run_onnx(path, inputs, DetectorModel.image_size(samples[0]))
    (got,) = detector_predict(wrapper, outputs, [s.clone() for s in samples])
    a, b = _in_box_order(got.pred_instances), _in_box_order(expected.pred_instances)
    if len(a) != len(b) or not torch.equal(a.labels, b.labels):
        raise ExportError(f'ONNX Runtime gives {len(a)} detections, PyTorch {len(b)} (or other labels)')
    if not len(b):
        return 0.0, 0
    worst = float((a.bboxes - b.bboxes).abs().max()) / max(float(b.bboxes.abs().max()), 1.0)
    worst = max(worst, float((a.scores - b.scores).abs().max()))
    if 'masks' in b:
        worst = max(worst, float((a.masks != b.masks).float().mean()))
    if worst > tolerance:
        raise ExportError(f'detections differ from PyTorch by {worst:.3g} (relative), over {tolerance:g}')
    return worst, len(b)


def main(argv: list[str] | None = None) -> int:
    """Export, then check; returns the exit status."""
    args = parse_args(argv)
    trust_from_args(args.trust_checkpoint)
    part = 'backbone' if args.backbone else args.part
    try:
        check_requirements()
    except ImportError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    cfg, model = build_model(args.config)
    if args.checkpoint:
        from mmengine.runner import load_checkpoint

        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    model.eval()
    if args.dynamic:  # the FFT's ONNX form does not run with dynamic sizes: matrix products instead
        for module in model.modules():
            if isinstance(module, SpectralGating):
                module.dft_as_matmul = True
    module = exportable(model, part)
    shape = tuple(args.shape or (224, 224))
    if args.dynamic and shape[0] == shape[1]:  # a square example lets the exporter tie height to width
        shape = (shape[0], shape[1] + 32)
        print(f'exporting at {shape[0]}x{shape[1]}: a square example would make height and width one symbol')
    inputs, samples = dummy_batch(cfg, shape)
    if isinstance(module, DetectorModel):
        inputs = (inputs, DetectorModel.image_size(samples[0]))
    out = args.out or f'{osp.splitext(osp.basename(args.config))[0]}_{part}.onnx'
    start = time.perf_counter()
    try:
        info = export_onnx(
            module, inputs, out, dynamic=args.dynamic, opset=args.opset, optimize=not args.no_optimize
        )
    except ExportError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {out} ({part}, opset {args.opset}, {time.perf_counter() - start:.0f} s)')
    if args.dynamic:
        print(f'dynamic height and width: any size from {info["min_hw"][0]} x {info["min_hw"][1]}')
    if args.no_check:
        return 0
    sizes = [shape] + (
        [(max(info['min_hw'][0], shape[0] * 3 // 4 + 1), shape[1] + 37)] if args.dynamic else []
    )
    try:
        for size in sizes:
            if isinstance(module, DetectorModel):
                difference, count = _check_detector(module, out, cfg, size, args.tolerance)
                print(
                    f'{size[0]}x{size[1]}: {count} detections match PyTorch '
                    f'(largest relative difference {difference:.2e})'
                )
            else:
                x, _ = dummy_batch(cfg, size)
                result = check_onnx(out, module, x, args.tolerance)
                extra = (
                    f'; float32-sensitive model: {result["difference_to_float64"]:.2e} from float64, '
                    f'PyTorch float32 {result["float32_error"]:.2e}'
                    if 'float32_error' in result
                    else ''
                )
                print(
                    f'{size[0]}x{size[1]}: ONNX Runtime vs PyTorch, largest relative difference '
                    f'{result["difference"]:.2e}{extra}'
                )
                if 'rounding_spread' in result:
                    print(
                        f'warning: passed as near ties reordered: PyTorch moves by up to '
                        f'{result["rounding_spread"]:.2e} for rounding-sized input changes, and a '
                        f'difference below twice that cannot tell a reordering from an export error',
                        file=sys.stderr,
                    )
    except ExportError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
