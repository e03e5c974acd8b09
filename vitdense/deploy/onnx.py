"""ONNX export of vitdense models and their check in ONNX Runtime.

What goes into the graph (pre-processing, i.e. normalisation and padding, is never in it):

* ``backbone``: the backbone's NCHW maps; ``neck``: backbone + neck;
* ``model``, classifier: class scores (softmax of the logits mmpretrain predicts from);
* ``model``, segmentor: the decode head's logits resized to the input, and their argmax;
* ``model``, detector (one image): boxes, scores and labels after NMS, and Mask R-CNN's 28 x 28
  mask probabilities of each box's class, from the image and its size inside the padded input:
  mmdet's post-processing and RoI stage in exportable operators (:mod:`.detection`). Rescaling to
  the original image and pasting the masks into it are not in the graph: :func:`detector_predict`
  runs mmdet's code for them on ONNX Runtime's outputs.

Export is ``torch.export`` (height and width symbolic with ``dynamic``) then the ONNX exporter of
torch (LIT / LITv2 token merging as ``GridSample``, opset >= 16; torchvision's deformable convolution
as ``DeformConv``, opset >= 19). Operators without an ONNX form stop with :class:`ExportError`,
naming the operator and the way out.
"""

from __future__ import annotations

import io
import re
import types
from collections.abc import Sequence
from contextlib import redirect_stdout
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Version floors: ``DeformConv`` export (onnxscript) and run (onnxruntime), the real FFT in onnxruntime.
REQUIREMENTS = {'onnx': '1.16', 'onnxscript': '0.7.1', 'onnxruntime': '1.27'}
#: The opsets from which ``DeformConv`` (torchvision's deformable convolution) and ``GridSample``
#: (token merging) exist. Files of opsets below 18 are torch's opset-18 graph converted down by onnxscript.
DEFORM_CONV_OPSET = 19
GRID_SAMPLE_OPSET = 16
DEFAULT_OPSET = 20
PARTS = ('backbone', 'neck', 'model')


class ExportError(RuntimeError):
    """A model or operator that cannot be exported, with the way out."""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r'\d+', text)[:3])


def check_requirements() -> None:
    """Raise ``ImportError`` naming what to install when an ONNX package is missing or too old."""
    problems = []
    for package, floor in REQUIREMENTS.items():
        try:
            found = version(package)
        except PackageNotFoundError:
            problems.append(f'{package} is not installed')
            continue
        if _version_tuple(found) < _version_tuple(floor):
            problems.append(f'{package} {found} is older than {floor}')
    if problems:
        raise ImportError(
            f'ONNX export needs {", ".join(f"{p}>={v}" for p, v in REQUIREMENTS.items())}: '
            f'{"; ".join(problems)}. Install them with `pip install -e .[deploy]`.'
        )


# --------------------------------------------------------------------------- exportable modules
class FeatureModel(nn.Module):
    """A backbone, optionally followed by a neck, returning its maps as a tuple."""

    def __init__(self, backbone: nn.Module, neck: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """(B, 3, H, W) -> the maps."""
        feats = self.backbone(x)
        return tuple(self.neck(feats) if self.neck is not None else feats)


class ClassifierModel(nn.Module):
    """An mmpretrain classifier returning class scores (B, classes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) -> softmax scores."""
        return self.model(x, mode='tensor').softmax(dim=-1)


def _integer_upsample(self: nn.Module, x: Tensor) -> Tensor:
    """Mmseg's ``Upsample`` by an integer factor, its output size kept symbolic under ``torch.export``."""
    factor = int(self.scale_factor)
    return F.interpolate(
        x, [s * factor for s in x.shape[-2:]], mode=self.mode, align_corners=self.align_corners
    )


class SegmentorModel(nn.Module):
    """An mmseg encoder-decoder returning (logits at the input's size, their argmax).

    mmseg's ``Upsample`` (Semantic FPN's scale heads) computes its output size with ``int()``, which
    ``torch.export`` fixes to the example's size; integer factors are computed here as ``size * factor``,
    the same sizes and values, so a dynamic export follows the input.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        from mmseg.models.utils import Upsample

        for module in model.modules():
            if (
                isinstance(module, Upsample)
                and not module.size
                and float(module.scale_factor or 0).is_integer()
            ):
                module.forward = types.MethodType(_integer_upsample, module)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, H, W) -> (B, classes, H, W) logits and the (B, H, W) label map."""
        head = self.model.decode_head
        logits = head(self.model.extract_feat(x))
        logits = F.interpolate(logits, size=x.shape[2:], mode='bilinear', align_corners=head.align_corners)
        return logits, logits.argmax(dim=1)


class DetectorModel(nn.Module):
    """An mmdet detector for one image: (input, image size) -> boxes, scores, labels [, masks].

    The post-processing is :mod:`vitdense.deploy.detection`'s exportable form of mmdet's. Inputs: the
    (1, 3, H, W) normalised, padded image and ``image_size``, the (2,) int64 height and width of the
    image inside it (mmdet's ``img_shape``), to which boxes are clipped. Outputs: (N, 4) boxes in the
    input's pixels, (N,) scores, (N,) labels by falling score, and for Mask R-CNN (N, 28, 28) mask
    probabilities of each box's class; :func:`detector_predict` rescales and pastes them as mmdet does.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from .detection import unsupported

        if problems := unsupported(model):
            raise ExportError(
                f'{type(model).__name__} does not export whole: {"; ".join(problems)}. '
                'Export --part neck and run the heads in mmdet.'
            )
        self.model = model
        self.two_stage = hasattr(model, 'rpn_head')

    def forward(self, x: Tensor, image_size: Tensor) -> tuple[Tensor, ...]:
        """(1, 3, H, W) image and its (2,) size -> detections."""
        from .detection import dense_head_detections, rcnn_detections, rpn_proposals

        if x.shape[0] != 1:
            raise ExportError(f'detectors export for one image at a time, got a batch of {x.shape[0]}')
        feats = self.model.extract_feat(x)
        if self.two_stage:
            proposals = rpn_proposals(self.model.rpn_head, *self.model.rpn_head(feats), image_size)
            return rcnn_detections(self.model.roi_head, feats, *proposals, image_size)
        return dense_head_detections(self.model.bbox_head, *self.model.bbox_head(feats), image_size)

    @staticmethod
    def image_size(data_sample: Any) -> Tensor:
        """The ``image_size`` input of a data sample: its ``img_shape``."""
        return torch.tensor(data_sample.metainfo['img_shape'][:2], dtype=torch.int64)


def exportable(model: nn.Module, part: str) -> nn.Module:
    """The module to export for ``part`` (``backbone``, ``neck`` or ``model``) of a built model."""
    if part not in PARTS:
        raise ValueError(f'part must be one of {PARTS}, got {part!r}')
    if part == 'backbone':
        return FeatureModel(model.backbone)
    if part == 'neck':
        if getattr(model, 'neck', None) is None:
            raise ExportError(f'{type(model).__name__} has no neck: export part "backbone" or "model"')
        return FeatureModel(model.backbone, model.neck)
    if hasattr(model, 'decode_head'):
        return SegmentorModel(model)
    if hasattr(model, 'rpn_head') or hasattr(model, 'bbox_head'):
        return DetectorModel(model)
    if hasattr(model, 'head'):
        return ClassifierModel(model)
    raise ExportError(f'do not know which outputs of a {type(model).__name__} to export')


# --------------------------------------------------------------------------- export
def _opset_floor(module: nn.Module) -> tuple[int, str] | None:
    """The lowest opset the deformable convolutions of ``module`` export to, with the ONNX operator."""
    from ..models.layers.deform import DeformConv2dPack

    convs = [m for m in module.modules() if isinstance(m, DeformConv2dPack)]
    if any(m.reference or not m.tiles for m in convs):
        return (
            DEFORM_CONV_OPSET,
            "DeformConv (torchvision's deformable convolution: a reference path, overlapping taps)",
        )
    return (GRID_SAMPLE_OPSET, 'GridSample (token merging)') if convs else None


def _explain(exc: Exception, step: str) -> ExportError:
    text = str(exc)
    op = re.search(r"No ONNX function found for (?:<OpOverload\(op='([^']+)'|(\S+?)[.\s])", text)
    if op:
        return ExportError(
            f'{step}: the operator {op.group(1) or op.group(2)} has no ONNX translation in torch '
            f'{torch.__version__}. '
            'Way out: write the computation with other operators under vitdense.models.layers.is_exporting() '
            '(as LIT does for its biased attention), or register an onnxscript function for it with '
            'torch.onnx.export(custom_translation_table=...).'
        )
    lines = [line for line in text.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if 'Error' in line), lines[-1] if lines else repr(exc))
    return ExportError(f'{step} failed: {summary.strip()}')


def export_onnx(
    module: nn.Module,
    example: Tensor | tuple[Tensor, ...],
    path: str,
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
) -> dict[str, Any]:
    """Export ``module`` (in eval mode) called on ``example`` to the ONNX file ``path``.

    Args:
        module: The module; its outputs are tensors or tuples of tensors.
        example: A (B, 3, H, W) input, or a tuple of inputs that starts with it.
        path: Output file.
        dynamic: Height and width symbolic: one graph for every input size.
        opset: ONNX opset: at least 16 with LIT / LITv2 token merging, 19 on torchvision's deformable
            convolution.
        optimize: Run the ONNX exporter's graph optimiser (constant folding and rewrites).
            Large graphs (SG-Former) export much faster without it.

    Returns:
        ``{'min_hw': (H, W)}``: the smallest size the dynamic graph accepts (the given size when static).
    """
    check_requirements()
    floor = _opset_floor(module)
    if floor and opset < floor[0]:
        raise ExportError(
            f'the model exports ONNX {floor[1]}, which needs opset >= {floor[0]}; got --opset {opset}'
        )
    module = module.eval()
    args = example if isinstance(example, tuple) else (example,)
    dims = None
    if dynamic:
        dims = ({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC},) + (None,) * (len(args) - 1)
    with torch.no_grad():
        try:
            program = torch.export.export(module, args, dynamic_shapes=dims, strict=False)
        except Exception as exc:
            raise _explain(exc, 'torch.export') from exc
        try:
            with redirect_stdout(io.StringIO()):
                onnx_program = torch.onnx.export(
                    program, args, dynamo=True, opset_version=opset, optimize=optimize
                )
        except Exception as exc:
            raise _explain(exc, 'ONNX conversion') from exc
    exported = onnx_program.model.opset_imports.get('')
    if exported != opset:  # onnxscript's down-conversion only warns when an operator has no older form
        raise ExportError(
            f'torch exported opset {exported} and could not convert it to opset {opset}: an operator of '
            f'the graph has no form that old (e.g. LayerNormalization before 17); use --opset {exported} '
            'or higher'
        )
    onnx_program.save(path)
    min_hw = tuple(args[0].shape[2:])
    if dynamic:
        shape = (
            next(n for n in program.graph.nodes if n.op == 'placeholder' and n.name == 'x').meta['val'].shape
        )
        min_hw = tuple(
            int(program.range_constraints[s.node.expr].lower) if isinstance(s, torch.SymInt) else int(s)
            for s in shape[2:]
        )
    return {'min_hw': min_hw}


# --------------------------------------------------------------------------- check
def run_onnx(
    path: str, *inputs: Tensor, providers: Sequence[str] = ('CPUExecutionProvider',)
) -> list[np.ndarray]:
    """Run the file on ``inputs`` (in the graph's order) in ONNX Runtime; returns its outputs."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=list(providers))
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})


def flat_outputs(out: Any) -> list[Tensor]:
    """Tensors of a module's output, in order."""
    if isinstance(out, Tensor):
        return [out]
    return [t for item in out for t in flat_outputs(item)]


def relative_difference(ours: Sequence[np.ndarray], reference: Sequence[Tensor]) -> float:
    """Largest ``|ours - reference| / max |reference|`` over the outputs.

    Integer outputs (label maps) count the share of elements that differ.
    """
    if len(ours) != len(reference):
        raise ValueError(f'{len(ours)} outputs, expected {len(reference)}')
    worst = 0.0
    for a, b in zip(ours, reference, strict=True):
        b = b.detach().cpu().numpy()
        if a.shape != b.shape:
            raise ValueError(f'output of shape {a.shape}, expected {b.shape}')
        if np.issubdtype(b.dtype, np.integer):
            worst = max(worst, float((a != b).mean()))
        else:
            worst = max(worst, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)))
    return worst


def check_onnx(path: str, module: nn.Module, x: Tensor, tolerance: float = 1e-4) -> dict[str, float]:
    """Compare the file's outputs on ``x`` with ``module``'s in float32 (and float64 when needed).

    Past the tolerance, a model whose output is discontinuous in float32 rounding passes when ONNX
    Runtime is no further from the float64 result than twice PyTorch's own float32 result is. A model
    with a module that sorts by computed values (``reorders_near_ties = True``: SG-Former's
    self-guided attention) may also pass when ONNX Runtime is no further from PyTorch than twice
    PyTorch's own outputs move for inputs moved by ``1e-5`` of their magnitude
    (:func:`rounding_spread`): another runtime's rounding reorders other near ties than PyTorch's.
    That bound is wide (with random weights SG-Former's outputs move by percents), so an export
    error smaller than it goes unseen: the result's ``rounding_spread`` says how wide.

    Returns:
        ``{'difference': d}``, with ``float32_error`` and ``difference_to_float64`` when float64 was
        needed, and ``rounding_spread`` when that was needed too.

    Raises:
        ExportError: The difference exceeds the tolerance and neither bound above allows it.
    """
    ours = run_onnx(path, x)
    with torch.no_grad():
        reference = flat_outputs(module(x))
    difference = relative_difference(ours, reference)
    result = {'difference': difference}
    if difference <= tolerance:
        return result
    import copy

    exact = copy.deepcopy(module).double()
    with torch.no_grad():
        reference64 = flat_outputs(exact(x.double()))
    float32_error = relative_difference([t.detach().numpy() for t in reference], reference64)
    to_exact = relative_difference(ours, reference64)
    result.update(float32_error=float32_error, difference_to_float64=to_exact)
    if to_exact <= 2 * float32_error + tolerance:
        return result
    message = (
        f'ONNX Runtime differs from PyTorch by {difference:.3g} (relative) on {tuple(x.shape)}, over the '
        f'tolerance {tolerance:g}; from float64 by {to_exact:.3g} where PyTorch float32 is '
        f'{float32_error:.3g} away'
    )
    if not any(getattr(m, 'reorders_near_ties', False) for m in module.modules()):
        raise ExportError(message)
    spread = rounding_spread(module, x, reference)
    result.update(rounding_spread=spread)
    if difference > 2 * spread + tolerance:
        raise ExportError(
            f'{message}; PyTorch moves by at most {spread:.3g} for rounding-sized input changes'
        )
    return result


def rounding_spread(
    module: nn.Module, x: Tensor, reference: Sequence[Tensor], scale: float = 1e-5, trials: int = 4
) -> float:
    """How far ``module``'s float32 outputs move when ``x`` moves by ``scale`` of its mean magnitude.

    A continuous model moves by about as little; one that sorts near ties (SG-Former) may reorder
    them and move by much more, as it may under another runtime's rounding. The scale is a choice:
    large enough to reorder the near ties a runtime's rounding may (a deep network's rounding
    differences grow with its depth), and four draws sample the spread rather than bound it.

    Args:
        module: The exported module.
        x: Its input.
        reference: ``module``'s outputs on ``x``.
        scale: Size of the input's random changes, relative to its mean magnitude.
        trials: Changed inputs tried (drawn from a fixed seed).

    Returns:
        The largest :func:`relative_difference` from ``reference`` over the trials.
    """
    generator = torch.Generator().manual_seed(0)
    spread = 0.0
    with torch.no_grad():
        for _ in range(trials):
            moved = x + scale * x.abs().mean() * torch.randn(x.shape, generator=generator, dtype=x.dtype)
            outputs = [t.detach().cpu().numpy() for t in flat_outputs(module(moved))]
            spread = max(spread, relative_difference(outputs, reference))
    return spread


def detector_predict(detector: DetectorModel, outputs: Sequence[Any], data_samples: list) -> list:
    """Turn the exported detector's outputs into mmdet's predictions: rescaled boxes, pasted masks.

    Args:
        detector: The wrapper that was exported.
        outputs: Its outputs for one image (from ONNX Runtime: arrays or tensors).
        data_samples: The image's mmdet data sample (its ``metainfo``).

    Returns:
        The data samples with ``pred_instances``, as ``model.predict`` returns them.
    """
    from mmdet.structures.bbox import scale_boxes
    from mmengine.structures import InstanceData

    model, (sample,) = detector.model, data_samples
    boxes, scores, labels, *masks = (torch.as_tensor(o) for o in outputs)
    results = InstanceData(bboxes=boxes.float(), scores=scores.float(), labels=labels.long())
    if masks:  # mmdet's FCNMaskHead.predict_by_feat pastes (and rescales the boxes in place)
        head = model.roi_head.mask_head
        full = masks[0].new_zeros(len(labels), head.num_classes, *masks[0].shape[1:])
        full[torch.arange(len(labels)), results.labels] = masks[0].float()
        (results,) = head.predict_by_feat(
            (full,), [results], [sample.metainfo], model.roi_head.test_cfg, rescale=True, activate_map=True
        )
    else:
        results.bboxes = scale_boxes(results.bboxes, [1 / s for s in sample.metainfo['scale_factor']])
    return model.add_pred_to_datasample(data_samples, [results])
