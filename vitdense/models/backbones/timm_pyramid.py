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
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from ..layers import pad_to_multiple
from ..necks.vit_pyramid import OUT_STRIDES, ViTPyramidNeck
from .base import StageFreezing, _format_keys, check_fit, extract_state_dict

#: Input sides are padded to a multiple of the deepest level's stride.
PAD_MULTIPLE = 32
#: timm classes whose tables are tied to the construction size and that index them
#: without resizing: any other input size would silently give a wrong answer.
FIXED_SIZE_CLASSES = {'MultiScaleVit': "mmpretrain's MViT (type='mmpretrain.MViT'), which resizes them"}


@MODELS.register_module()
class TimmPyramid(StageFreezing, BaseModule):
    """A timm model as a 4-level NCHW pyramid (strides 4, 8, 16, 32).

    Args:
        model_name: A timm model name, e.g. ``'convnext_tiny'``, ``'xcit_small_12_p16_224'``.
        pretrained: ``False``; ``True`` for timm's own weights of ``model_name``
            (from the Hugging Face hub or its cache); or the path / URL of a
            checkpoint in timm's (or the upstream release's) layout. Loaded
            strictly by :meth:`init_weights`.
        out_indices: Pyramid levels to return: 0-3 for strides 4-32.
        block_indices: Single-scale models only: the four blocks whose outputs feed
            the levels (or one block for all four); default evenly spaced, ending
            with the last block.
        frozen_stages: -1 none; 0 the stem (patch embedding, position embedding,
            class token); ``k`` also the first ``k`` levels' stages (or blocks).
        drop_path_rate: Stochastic depth rate (timm's defaults differ: Swin's is 0.1).
        with_cp: Gradient checkpointing (timm's ``set_grad_checkpointing``).
        norm_eval: Keep every BatchNorm in eval mode while training.
        model_kwargs: More ``timm.create_model`` arguments, e.g.
            ``dict(dynamic_img_size=True)`` for ViT/DeiT or ``dict(strict_img_size=False)``
            for Swin, which otherwise accept only their pre-training size.
        pyramid_norm_cfg: Norm inside the pyramid neck of single-scale models.
        init_cfg: mmengine initialisation config, for the pyramid neck only (the
            timm model keeps timm's initialisation, or ``pretrained``).
    """

    num_stages = 4

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
        super().__init__(init_cfg=init_cfg)
        if not timm.is_model(model_name):
            raise ValueError(f'TimmPyramid: unknown timm model {model_name!r}; see timm.list_models()')
        indices = tuple(sorted({i % 4 if -4 <= i < 0 else i for i in out_indices}))
        if not indices or len(indices) != len(out_indices) or not set(indices) <= {0, 1, 2, 3}:
            raise ValueError(
                f'TimmPyramid: out_indices must be distinct levels in [0, 4), got {tuple(out_indices)}'
            )
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'TimmPyramid: frozen_stages must be in [-1, 4], got {frozen_stages}')
        self.model_name = model_name
        self.out_indices = indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        kwargs = dict(model_kwargs or {}, drop_path_rate=drop_path_rate)
        with torch.device('meta'):  # the full classifier: its keys and depth, at no cost
            try:
                reference = timm.create_model(model_name, **kwargs)
            except TypeError as err:  # models without stochastic depth (ConvMixer) take no rate
                if drop_path_rate or 'drop_path_rate' not in str(err):
                    raise
                kwargs.pop('drop_path_rate')
                reference = timm.create_model(model_name, **kwargs)
        self._reference = [reference]  # in a list: not a submodule
        if type(reference).__name__ in FIXED_SIZE_CLASSES:
            raise ValueError(
                f'TimmPyramid: timm {model_name} ties its relative-position tables to its construction size; '
                f'for dense prediction at any size use {FIXED_SIZE_CLASSES[type(reference).__name__]}'
            )
        if getattr(getattr(reference, 'patch_embed', None), 'strict_img_size', False):
            raise ValueError(
                f'TimmPyramid: timm {model_name} accepts only {reference.patch_embed.img_size} inputs as '
                f'built; pass model_kwargs=dict(dynamic_img_size=True) (ViT/DeiT) or '
                f'dict(strict_img_size=False) (Swin)'
            )
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
            channels = self.body.feature_info.channels()[0]
            self.pyramid = ViTPyramidNeck(channels, in_stride=neck_stride, norm_cfg=pyramid_norm_cfg)
            self._channels = [channels] * 4
        else:
            if block_indices is not None:
                raise ValueError('TimmPyramid: block_indices is for single-scale models only')
            levels = [i for i, r in enumerate(reductions) if r in OUT_STRIDES]
            if [reductions[i] for i in levels] != list(OUT_STRIDES):
                raise ValueError(f'TimmPyramid: {model_name} has reductions {reductions}, not strides 4-32')
            self.body = timm.create_model(model_name, features_only=True, out_indices=levels, **kwargs)
            self._channels = self.body.feature_info.channels()
            self.pyramid = None
        self.nhwc = str(getattr(self.body, 'output_fmt', 'NCHW')).endswith('NHWC')
        if with_cp:  # timm's getter wrapper keeps the model, whose forward_intermediates checkpoints
            getattr(self.body, 'model', self.body).set_grad_checkpointing(True)
        self.pretrained = pretrained
        self._timm_kwargs = kwargs
        self._freeze_stages()

    # ------------------------------------------------------------------ contract
    @property
    def out_channels(self) -> list[int]:
        """Channels of the returned maps."""
        return [self._channels[i] for i in self.out_indices]

    @property
    def strides(self) -> list[int]:
        """Strides of the returned maps."""
        return [OUT_STRIDES[i] for i in self.out_indices]

    @property
    def stage_strides(self) -> list[int]:
        """Strides of the four levels."""
        return list(OUT_STRIDES)

    def stage_modules(self, index: int) -> list[nn.Module]:
        """Modules frozen with level ``index``: ``-1`` the stem, ``k`` what runs up to level ``k`` 's output.

        Single-scale models: the blocks after ``block_indices[k - 1]`` up to
        ``block_indices[k]`` and the pyramid neck's branch of level ``k``.
        """
        if self.single_scale:
            model = self.body.model
            if index < 0:
                return [m for name, m in model.named_children() if name != 'blocks']
            blocks = list(self.block_indices) * (4 // len(self.block_indices))
            first = blocks[index - 1] + 1 if index else 0
            return [*model.blocks[first : blocks[index] + 1], getattr(self.pyramid, f'fpn{index + 1}')]
        container = getattr(self.body, 'model', self.body)  # timm's getter wrapper keeps the model
        children = list(container.named_children())
        order = [name for name, _ in children]
        levels = [
            n.replace('.', '_') if n.replace('.', '_') in order else n
            for n in self.body.feature_info.module_name()
        ]
        if levels[0].split('.')[0] not in order:
            raise ValueError(f'TimmPyramid: cannot locate the stages of {self.model_name} to freeze them')
        if index < 0:
            return [m for _, m in children[: order.index(levels[0].split('.')[0])]]
        if levels[index] not in order:
            return [container.get_submodule(levels[index])]
        start = order.index(levels[index - 1]) + 1 if index else order.index(levels[0])
        return [m for _, m in children[start : order.index(levels[index]) + 1]]

    def _stem_parameters(self) -> list[nn.Parameter]:
        """Parameters held by the single-scale model itself (class token, position embedding)."""
        return list(self.body.model.parameters(recurse=False)) if self.single_scale else []

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        if self.frozen_stages >= 0:
            for param in self._stem_parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Initialise the pyramid neck and load ``pretrained``; the body otherwise keeps timm's init.

        timm modules that define ``init_weights`` (ViT) would re-draw the weights
        under mmengine's recursive initialisation, so it does not descend into the body.
        """
        if self.pyramid is not None:
            self.pyramid.init_weights()
        if self.pretrained is True:
            weights = timm.create_model(self.model_name, pretrained=True, **self._timm_kwargs).state_dict()
            self.load_state_dict_strict(weights, f'timm weights of {self.model_name}')
        elif self.pretrained:
            self.load_pretrained(self.pretrained)
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
            outs.append(feats[i][..., : math.ceil(H / s), : math.ceil(W / s)].contiguous())
        return tuple(outs)

    # --------------------------------------------------------------- weights
    def load_pretrained(self, filename: str) -> None:
        """Load a timm-layout checkpoint strictly, through the model's timm checkpoint filter.

        Tensors of layers the dense model prunes (classifier, final norm, later
        blocks) are dropped and logged; anything else that does not fit raises.

        Raises:
            CheckpointMismatchError: Listing missing, unexpected and wrong-shaped keys.
        """
        logger = MMLogger.get_current_instance()
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
            logger.info(f'TimmPyramid: dropped tensors of pruned layers:\n  {_format_keys(dropped)}')

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
