"""Model building, dummy inputs and FLOP counting for the analysis tools.

FLOPs follow the convention of the published figures (fvcore / mmcv): one
multiply-add counts as one FLOP. They are counted with
``torch.utils.flop_counter`` on the operators that matter (matmul, conv,
attention, deformable conv); normalisation, activations, RoIAlign and NMS are
not counted, as in those tools. A two-stage detector is counted like mmdet's
``get_flops`` always did (``forward_dummy``): backbone, neck and RPN head, then
the box head on 1000 proposals and the mask head on 100 of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count, sdpa_flop_count

import vitdense  # noqa: F401  (registers the backbones)

from .launch import load_config, task_scope


def _deform_conv_flops(x_shape, weight_shape, *args: Any, out_shape=None, **kwargs: Any) -> int:
    """FLOPs of ``torchvision.ops.deform_conv2d``: those of the convolution it generalises."""
    return conv_flop_count(list(x_shape), list(weight_shape), list(out_shape), transposed=False)


def _sdpa_cpu_flops(q_shape, k_shape, v_shape, *args: Any, **kwargs: Any) -> int:
    return sdpa_flop_count(q_shape, k_shape, v_shape)


def _dwconv3x3_gelu_flops(
    x_shape: Sequence[int], weight_shape: Sequence[int], *args: Any, **kwargs: Any
) -> int:
    """FLOPs of the ConvFFN's fused kernel: those of its depth-wise convolution (channels-last input)."""
    B, H, W, C = x_shape
    return conv_flop_count([B, C, H, W], list(weight_shape), [B, C, H, W], transposed=False)


def _extra_flop_formulas() -> dict:
    formulas = {torch.ops.torchvision.deform_conv2d: _deform_conv_flops}
    fused = getattr(torch.ops.vitdense, 'dwconv3x3_gelu', None)  # defined where Triton is installed
    if fused is not None:
        formulas[fused] = _dwconv3x3_gelu_flops
    cpu_sdpa = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)
    if cpu_sdpa is not None:
        formulas[cpu_sdpa] = _sdpa_cpu_flops
    return formulas


def count_macs(fn: Callable[[], Any]) -> int:
    """Multiply-adds executed by ``fn()`` (FlopCounterMode counts 2 FLOPs each)."""
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_extra_flop_formulas()) as counter:
        fn()
    return counter.get_total_flops() // 2


def build_model(config: str | Config, cfg_options: dict | None = None) -> tuple[Config, nn.Module]:
    """Build the model of a config (random weights, no checkpoint download)."""
    cfg = load_config(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = task_scope(cfg)
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    cfg.model.backbone.pop('init_cfg', None)
    if cfg.model.get('pretrained'):
        cfg.model.pretrained = None
    return cfg, MODELS.build(cfg.model)


def set_reference(model: nn.Module, on: bool, kinds: Sequence[str] = ()) -> None:
    """Switch the modules with a ``reference`` flag to their reference path, or back to the default.

    Those are SG-Former's hybrid attention and one-group GroupNorm, LIT / LITv2 token merging, and the
    ConvFFN's fused depth-wise convolution + GELU (LITv2, SpectFormer, SG-Former; on CUDA).

    Args:
        model: The model.
        on: The reference path (True) or the default one.
        kinds: Class names (e.g. ``'ConvFFN'``): switch only modules of these classes; all if empty.

    Raises:
        ValueError: ``model`` has no such module.
    """
    switches = [
        m for m in model.modules() if hasattr(m, 'reference') and (not kinds or type(m).__name__ in kinds)
    ]
    if not switches:
        which = f'{" / ".join(kinds)} ' if kinds else ''
        raise ValueError(f'--reference: {type(model).__name__} has no {which}module with a reference path')
    for module in switches:
        module.reference = on


def padded_shape(cfg: Config, shape: Sequence[int]) -> tuple[int, int]:
    """The input shape after the data preprocessor's padding to its size divisor."""
    divisor = cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 1) or 1
    return tuple(-(-s // divisor) * divisor for s in shape)


def dummy_batch(
    cfg: Config, shape: Sequence[int], batch_size: int = 1, device: str = 'cpu'
) -> tuple[Tensor, list]:
    """Random normalised images of ``shape`` (H, W) and matching data samples."""
    h, w = padded_shape(cfg, shape)
    inputs = torch.randn(batch_size, 3, h, w, device=device)
    if task_scope(cfg) == 'mmdet':
        from mmdet.structures import DetDataSample

        meta = dict(
            img_shape=tuple(shape),
            ori_shape=tuple(shape),
            pad_shape=(h, w),
            batch_input_shape=(h, w),
            scale_factor=(1.0, 1.0),
        )
        samples = [DetDataSample(metainfo=meta) for _ in range(batch_size)]
    elif task_scope(cfg) == 'mmseg':
        from mmseg.structures import SegDataSample

        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), padding_size=[0, 0, 0, 0])
        samples = [SegDataSample(metainfo=meta) for _ in range(batch_size)]
    else:
        samples = None  # a classifier's tensor forward takes images only
    return inputs, samples


def complexity_forward(model: nn.Module, inputs: Tensor, samples: list) -> Callable[[], Any]:
    """The forward that FLOPs are counted on (see the module docstring)."""
    from mmdet.models.detectors import TwoStageDetector
    from mmengine.structures import InstanceData

    if isinstance(model, TwoStageDetector):

        def forward() -> Any:
            feats = model.extract_feat(inputs)
            model.rpn_head(feats)
            h, w = inputs.shape[-2:]
            xy = torch.rand(1000, 2, device=inputs.device) * torch.tensor(
                [w * 0.8, h * 0.8], device=inputs.device
            )
            wh = (
                torch.rand(1000, 2, device=inputs.device) * 0.2 * torch.tensor([w, h], device=inputs.device)
                + 8
            )
            proposals = InstanceData(bboxes=torch.cat([xy, xy + wh], dim=1))
            return model.roi_head.forward(feats, [proposals] * inputs.shape[0], samples)

        return forward
    return lambda: model(inputs, samples, mode='tensor')


def eval_crop(cfg: Config) -> tuple[int, int]:
    """The (H, W) a classifier is evaluated at: its test pipeline's crop or square resize."""
    for transform in reversed(cfg.test_dataloader.dataset.pipeline):
        size = transform.get('crop_size') or (transform.get('scale') if transform.type == 'Resize' else None)
        if size:
            return (size, size) if isinstance(size, int) else tuple(size)
    raise ValueError(f'no crop or resize in the test pipeline of {cfg.filename}')


def params_in_millions(module: nn.Module) -> float:
    """Parameter count in millions."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def measure_complexity(
    config: str | Config, shape: Sequence[int] | None = None, cfg_options: dict | None = None
) -> dict:
    """Params (M) and FLOPs (G multiply-adds) of a config's model and of its backbone.

    Args:
        config: Config path (or ``mmdet::`` / ``mmseg::`` name) or loaded config.
        shape: Input (H, W); default 800x1280 for detection, 512x512 for segmentation, the
            evaluation crop for classification.
        cfg_options: Overrides merged into the config.

    Returns:
        ``input_shape`` (after padding), ``params_m``, ``gflops``, ``backbone_params_m``,
        ``backbone_gflops`` and ``backbone`` (``type-arch``, or ``TimmPyramid-model_name``).
    """
    cfg = load_config(config) if isinstance(config, str) else config
    shape = shape or {'mmdet': (800, 1280), 'mmseg': (512, 512)}.get(task_scope(cfg)) or eval_crop(cfg)
    cfg, model = build_model(cfg, cfg_options)
    model.eval()
    inputs, samples = dummy_batch(cfg, shape)
    backbone = cfg.model.backbone
    return dict(
        backbone=f'{backbone.type}-{backbone.get("arch") or backbone.get("model_name") or ""}'.rstrip('-'),
        input_shape=list(padded_shape(cfg, shape)),
        params_m=round(params_in_millions(model), 2),
        gflops=round(count_macs(complexity_forward(model, inputs, samples)) / 1e9, 1),
        backbone_params_m=round(params_in_millions(model.backbone), 2),
        backbone_gflops=round(count_macs(lambda: model.backbone(inputs)) / 1e9, 1),
    )


def with_cp_label(name: str, with_cp: bool) -> str:
    """A record's name in the tables, marked where its backbone checkpointed activations (``with_cp``)."""
    return f'{name} (with_cp)' if with_cp else name


def read_jsonl(paths: Sequence[str]) -> list[dict]:
    """Every record of some JSON-lines files (the analysis tools' ``--records`` / results)."""
    return [json.loads(line) for path in paths for line in open(path) if line.strip()]


def rewrite_generated(path: str, tag: str, tool: str, sources: Sequence[str], body: str) -> None:
    """Replace the section of a Markdown file between ``<!-- TAG:begin -->`` and ``<!-- TAG:end -->``.

    Args:
        path: The Markdown file.
        tag: Names the section, e.g. ``benchmark``.
        tool: The script that generates it, named in the section's first line.
        sources: The record files it was generated from, named there too.
        body: The new content.

    Raises:
        ValueError: The file has no such section.
    """
    begin, end = f'<!-- {tag}:begin -->', f'<!-- {tag}:end -->'
    text = open(path).read()
    if begin not in text or end not in text:
        raise ValueError(f'{path} has no {begin} ... {end} section to rewrite')
    head, rest = text.split(begin, 1)
    note = f'_Generated by `{tool}` from {", ".join(f"`{s}`" for s in sources)}._'
    with open(path, 'w') as f:
        f.write(f'{head}{begin}\n{note}\n\n{body}\n{end}{rest.split(end, 1)[1]}')
