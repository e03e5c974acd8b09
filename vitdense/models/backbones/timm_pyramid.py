"""Any timm model as a pyramid backbone, for baselines under the vitdense protocols.

Hierarchical models (ResNet, ConvNeXt, Swin, PVTv2, ...) give their stride 4-32 maps
through timm's ``features_only`` wrappers, NHWC ones (Swin) turned into NCHW.
Single-scale models (ViT/DeiT, XCiT, ConvMixer) give the maps of four blocks, which
:class:`~vitdense.models.necks.ViTPyramidNeck` turns into strides 4-32 inside the
backbone, as in XCiT's dense prediction (El-Nouby et al., "XCiT: Cross-Covariance Image
Transformers", NeurIPS 2021). Either way the backbone returns the same NCHW pyramid as
the vitdense backbones, so it drops into the same FPN / UperNet configs.

Weights load strictly: ``pretrained`` names a timm-format (or official DeiT / XCiT /
ConvMixer release) file, which goes through the model's own timm checkpoint filter
and must cover every tensor the dense model uses.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence

import timm
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.registry import MODELS
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from ...utils.checkpoint_io import trusted_checkpoints
from ..layers import crop_to, pad_to_multiple
from ..necks.vit_pyramid import OUT_STRIDES, ViTPyramidNeck
from .base import DenseBackbone, StageSpec
from .weights import check_fit, extract_state_dict, format_keys

#: Input sides are padded to a multiple of the deepest level's stride.
PAD_MULTIPLE = 32
#: timm classes whose tables are tied to the construction size and that index them
#: without resizing: any other input size would silently give a wrong answer.
FIXED_SIZE_CLASSES = {'MultiScaleVit': "mmpretrain's MViT (type='mmpretrain.MViT'), which resizes them"}
#: timm's own options for inputs of any size, tried in turn on models built for one size:
#: ViT / DeiT / EVA take ``dynamic_img_size``; Swin takes ``strict_img_size`` (timm 1.0.29
#: swallows an unknown ``dynamic_img_size`` there and stays strict).
ANY_SIZE_OPTIONS = (dict(dynamic_img_size=True), dict(strict_img_size=False))


def _strict_size(model: nn.Module) -> bool:
    return bool(getattr(getattr(model, 'patch_embed', None), 'strict_img_size', False))


@MODELS.register_module()
class TimmPyramid(DenseBackbone):
    """A timm model as a 4-level NCHW pyramid (strides 4, 8, 16, 32).

    Args:
        model_name: A timm model name, e.g. ``'convnext_tiny'``, ``'xcit_small_12_p16_224'``.
        pretrained: ``True`` is short for ``init_cfg=dict(type='Pretrained',
            checkpoint='timm://MODEL_NAME')``, timm's own weights; a path or URL
            (mmseg's deprecated argument) for ``checkpoint=`` that path.
        out_indices: Pyramid levels to return: 0-3 for strides 4-32.
        block_indices: Single-scale models only: the four blocks whose outputs feed
            the levels (or one block for all four); default evenly spaced, ending
            with the last block.
        frozen_stages: -1 none; 0 the stem (patch embedding, position embedding,
            class token); ``k`` also the first ``k`` levels' stages (or blocks).
        drop_path_rate: Stochastic depth rate (timm's defaults differ: Swin's is 0.1).
        with_cp: Gradient checkpointing (timm's ``set_grad_checkpointing``).
        norm_eval: Keep every BatchNorm in eval mode while training.
        model_kwargs: More ``timm.create_model`` arguments. A model built for one
            input size is rebuilt with timm's own any-size option
            (``dynamic_img_size=True`` for ViT / DeiT, ``strict_img_size=False``
            for Swin) unless these arguments set one.
        pyramid_norm_cfg: Norm inside the pyramid neck of single-scale models.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., trusted=False)``: a
            checkpoint in timm's (or the upstream release's) layout, or
            ``'timm://MODEL_NAME'`` for timm's own weights, loaded strictly by
            :meth:`init_weights`; None keeps timm's initialisation. The pyramid neck
            of single-scale models is initialised either way.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: str | bool = False,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        block_indices: Sequence[int] | None = None,
        frozen_stages: int = -1,
        drop_path_rate: float = 0.0,
        with_cp: bool = False,
        norm_eval: bool = False,
        model_kwargs: dict | None = None,
        pyramid_norm_cfg: dict | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        if pretrained is True:
            pretrained, init_cfg = None, dict(type='Pretrained', checkpoint=f'timm://{model_name}')
        super().__init__(4, out_indices, frozen_stages, norm_eval, pretrained or None, init_cfg)
        if not timm.is_model(model_name):
            raise ValueError(f'TimmPyramid: unknown timm model {model_name!r}; see timm.list_models()')
        self.model_name = model_name
        kwargs = dict(model_kwargs or {}, drop_path_rate=drop_path_rate)

        def build(options: dict) -> nn.Module:
            with torch.device('meta'):  # the full classifier: its keys and depth, at no cost
                try:
                    return timm.create_model(model_name, **options)
                except TypeError as err:  # models without stochastic depth (ConvMixer) take no rate
                    if drop_path_rate or 'drop_path_rate' not in str(err):
                        raise
                    options.pop('drop_path_rate')
                    return timm.create_model(model_name, **options)

        reference = build(kwargs)
        if type(reference).__name__ in FIXED_SIZE_CLASSES:
            raise ValueError(
                f'TimmPyramid: timm {model_name} ties its relative-position tables to its construction size; '
                f'for dense prediction at any size use {FIXED_SIZE_CLASSES[type(reference).__name__]}'
            )
        chosen = {}
        if _strict_size(reference) and not any(k in kwargs for o in ANY_SIZE_OPTIONS for k in o):
            for option in ANY_SIZE_OPTIONS:  # timm's own any-size option, if the model has one
                try:
                    candidate = build(dict(kwargs, **option))
                except TypeError:
                    continue
                if not _strict_size(candidate):
                    reference, chosen = candidate, option
                    break
        if _strict_size(reference):
            raise ValueError(
                f'TimmPyramid: timm {model_name} accepts only {reference.patch_embed.img_size} inputs and '
                f'offers none of the any-size options {[list(o) for o in ANY_SIZE_OPTIONS]} vitdense knows'
            )
        kwargs.update(chosen)  # `build` dropped the rate from kwargs for models without one
        self._reference = [reference]  # in a list: not a submodule
        if not getattr(reference, 'feature_info', None):
            raise ValueError(
                f'TimmPyramid: timm {timm.__version__} extracts no feature maps from {model_name} '
                f'(no feature_info); upgrade timm (ConvMixer has them from timm 1.0.31)'
            )
        reductions = [info['reduction'] for info in reference.feature_info]
        self.single_scale = len(set(reductions)) == 1
        if self.single_scale:
            depth = len(reductions)
            blocks = tuple(block_indices or [depth * (i + 1) // 4 - 1 for i in range(4)])
            if len(blocks) not in (1, 4) or not all(0 <= b < depth for b in blocks):
                raise ValueError(
                    f'TimmPyramid: block_indices must be 1 or 4 blocks in [0, {depth}) '
                    f'of {model_name}, got {blocks}'
                )
            self.block_indices = blocks
            self.body = timm.create_model(
                model_name, features_only=True, out_indices=sorted(set(blocks)), **kwargs
            )
            self.model_stride = reductions[0]
            # the nearest power-of-two stride; other strides (ConvMixer's 7) are resampled to it
            neck_stride = min(max(2 ** round(math.log2(self.model_stride)), 4), 32)
            width = self.body.feature_info.channels()[0]
            self.pyramid = ViTPyramidNeck(width, in_stride=neck_stride, norm_cfg=pyramid_norm_cfg)
            channels = [width] * 4
        else:
            if block_indices is not None:
                raise ValueError('TimmPyramid: block_indices is for single-scale models only')
            levels = [i for i, r in enumerate(reductions) if r in OUT_STRIDES]
            if [reductions[i] for i in levels] != list(OUT_STRIDES):
                raise ValueError(f'TimmPyramid: {model_name} has reductions {reductions}, not strides 4-32')
            self.body = timm.create_model(model_name, features_only=True, out_indices=levels, **kwargs)
            channels = self.body.feature_info.channels()
            self.pyramid = None
        self.nhwc = str(getattr(self.body, 'output_fmt', 'NCHW')).endswith('NHWC')
        if with_cp:  # timm's getter wrapper keeps the model, whose forward_intermediates checkpoints
            getattr(self.body, 'model', self.body).set_grad_checkpointing(True)
        self._timm_kwargs = kwargs
        stem, stages = self._stage_names()
        self.declare_stages(
            stem, [StageSpec(c, s, n) for c, s, n in zip(channels, OUT_STRIDES, stages, strict=True)]
        )

    def _stage_names(self) -> tuple[list[str], list[tuple[str, ...]]]:
        """The stem and the four levels as module / parameter names (see ``stage_modules``).

        Single-scale models: the stem is the model's modules before its blocks and its
        own parameters (class token, position embedding); level ``k`` the blocks after
        ``block_indices[k - 1]`` up to ``block_indices[k]`` and the pyramid neck's branch.
        Hierarchical models: what runs up to each level's output.
        """
        if self.single_scale:
            model = self.body.model
            stem = [f'body.model.{n}' for n, _ in model.named_children() if n != 'blocks']
            stem += [f'body.model.{n}' for n, _ in model.named_parameters(recurse=False)]
            blocks = list(self.block_indices) * (4 // len(self.block_indices))
            stages = []
            for k in range(4):
                first = blocks[k - 1] + 1 if k else 0
                names = [f'body.model.blocks.{j}' for j in range(first, blocks[k] + 1)]
                stages.append((*names, f'pyramid.fpn{k + 1}'))
            return stem, stages
        prefix = 'body.model.' if hasattr(self.body, 'model') else 'body.'  # timm's getter wrapper
        container = self.get_submodule(prefix.rstrip('.'))
        order = [name for name, _ in container.named_children()]
        levels = [
            n.replace('.', '_') if n.replace('.', '_') in order else n
            for n in self.body.feature_info.module_name()
        ]
        if levels[0].split('.')[0] not in order:
            raise ValueError(f'TimmPyramid: cannot locate the stages of {self.model_name} to freeze them')
        stem = [prefix + n for n in order[: order.index(levels[0].split('.')[0])]]
        stages = []
        for k, level in enumerate(levels):
            if level not in order:  # a level inside a child module
                stages.append((prefix + level,))
                continue
            start = order.index(levels[k - 1]) + 1 if k else order.index(levels[0])
            stages.append(tuple(prefix + n for n in order[start : order.index(level) + 1]))
        return stem, stages

    def init_weights(self) -> None:
        """Initialise the pyramid neck, load ``init_cfg``'s checkpoint; the body keeps timm's init otherwise.

        timm modules that define ``init_weights`` (ViT) would re-draw the weights
        under mmengine's recursive initialisation, so it does not descend into the body.
        """
        if self.pyramid is not None:
            self.pyramid.init_weights()
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.load_pretrained(cfg['checkpoint'], trusted=cfg.get('trusted', False))
        elif cfg is not None:
            raise ValueError(f"TimmPyramid: init_cfg must be None or type='Pretrained', got {cfg}")
        self._is_init = True

    # --------------------------------------------------------------- forward
    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Map images (B, 3, H, W) to the ``out_indices`` levels, each (B, C, ceil(H/s), ceil(W/s))."""
        H, W = x.shape[-2:]
        multiple = (
            self.model_stride if self.single_scale and self.model_stride not in OUT_STRIDES else PAD_MULTIPLE
        )
        feats = self.body(pad_to_multiple(x, multiple, channels_last=False))
        if self.nhwc:
            feats = [f.permute(0, 3, 1, 2) for f in feats]
        if self.single_scale:
            by_block = dict(zip(sorted(set(self.block_indices)), feats, strict=True))
            maps = [by_block[b] for b in self.block_indices]
            if self.model_stride not in OUT_STRIDES:  # resample to the neck's grid of the padded image
                s = self.pyramid.in_stride
                size = (
                    math.ceil(H / PAD_MULTIPLE) * PAD_MULTIPLE // s,
                    math.ceil(W / PAD_MULTIPLE) * PAD_MULTIPLE // s,
                )
                maps = [F.interpolate(m, size=size, mode='bilinear', align_corners=False) for m in maps]
            feats = self.pyramid(maps)
        outs = []
        for i in self.out_indices:
            s = OUT_STRIDES[i]
            outs.append(
                crop_to(feats[i], math.ceil(H / s), math.ceil(W / s), channels_last=False).contiguous()
            )
        return tuple(outs)

    # --------------------------------------------------------------- weights
    def load_pretrained(self, filename: str, trusted: bool = False) -> None:
        """Load a timm-layout checkpoint strictly, through the model's timm checkpoint filter.

        Tensors of layers the dense model prunes (classifier, final norm, later
        blocks) are dropped and logged; anything else that does not fit raises.

        Args:
            filename: Path or URL, or ``timm://MODEL_NAME`` for timm's own weights.
            trusted: Unpickle the file fully (see :mod:`vitdense.utils.checkpoint_io`).

        Raises:
            CheckpointMismatchError: Listing missing, unexpected and wrong-shaped keys.
        """
        logger = MMLogger.get_current_instance()
        with trusted_checkpoints(*([filename] if trusted else [])):
            checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu', logger=logger)
        self.load_state_dict_strict(extract_state_dict(checkpoint), filename)

    def load_state_dict_strict(self, state_dict: dict[str, Tensor], source: str) -> None:
        """Load a full timm model's state dict into the body (see :meth:`load_pretrained`)."""
        logger = MMLogger.get_current_instance()
        reference = self._reference[0]
        filter_fn = getattr(sys.modules[type(reference).__module__], 'checkpoint_filter_fn', None)
        if filter_fn is not None:
            state_dict = filter_fn(state_dict, reference)
        known = reference.state_dict()
        own = self.body.state_dict()
        names = {key: self._reference_key(key, known) for key in own}
        missing = [k for k, ref in names.items() if ref not in state_dict]
        unexpected = [k for k in state_dict if k not in known]
        mismatched = [
            f'{ref}: checkpoint {tuple(state_dict[ref].shape)} vs model {tuple(own[k].shape)}'
            for k, ref in names.items()
            if ref in state_dict and state_dict[ref].shape != own[k].shape
        ]
        check_fit(f'TimmPyramid({self.model_name})', source, missing, unexpected, mismatched)
        self.body.load_state_dict({k: state_dict[ref] for k, ref in names.items()})
        dropped = sorted(set(state_dict) - set(names.values()))
        logger.info(f'TimmPyramid({self.model_name}): loaded {len(names)} tensors from {source}')
        if dropped:
            logger.info(f'TimmPyramid: dropped tensors of pruned layers:\n  {format_keys(dropped)}')

    @staticmethod
    def _reference_key(key: str, known: dict[str, Tensor]) -> str:
        """The full model's name of a ``features_only`` wrapper's key.

        timm's getter wrapper keeps the model under ``model.``; its list wrapper
        flattens sequential containers (``stages.0`` becomes ``stages_0``).
        """
        candidates = [key, key.removeprefix('model.'), re.sub(r'^([A-Za-z0-9_]+?)_(\d+)\.', r'\1.\2.', key)]
        for candidate in candidates:
            if candidate in known:
                return candidate
        raise KeyError(f'TimmPyramid: no counterpart of {key} in the full timm model')
