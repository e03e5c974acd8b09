"""LIT: Less is More -- pay less attention in vision transformers, as a dense backbone.

Paper: Zizheng Pan, Bohan Zhuang, Haoyu He, Jing Liu, Jianfei Cai. "Less is More:
Pay Less Attention in Vision Transformers." AAAI 2022. https://arxiv.org/abs/2105.14217
Upstream: https://github.com/ziplab/LIT (``detection/mmdet/models/backbones/lit.py``,
``lit_ti.py``).

Stages 1-2 hold MLP-only blocks, stages 3-4 global multi-head attention; stages 2-4
start with deformable token merging (shared with LITv2). Two layouts:

* ``style='pvt'`` (LIT-Ti): a 4x4 stem without padding (odd sides are floored, as
  upstream), an absolute position embedding per stage stored at its ImageNet grid
  (56, 28, 14, 7) and resized bilinearly to the feature size, no output norms.
* ``style='swin'`` (LIT-S/M/B): a padded 4x4 stem, a relative-position bias table per
  attention block stored for ``rel_pos_img_size`` (upstream dense: 800 for detection,
  512 for segmentation) and resized bicubically to the feature size at every
  forward, output norms on stages 2-4 (and 1 with ``first_out_norm``).

Where upstream runs, the pyramid equals its dense backbone's given the same weights.
Upstream LIT-Ti skips the resize whenever a stage has 3136 (= 56 x 56) tokens, which
crashes for stages 2-4 (e.g. a 448 x 448 input) and mis-adds the table for a 28 x 112
stage 1; vitdense resizes whenever the grid differs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from mmengine.registry import MODELS
from timm.layers import DropPath, Mlp, resample_abs_pos_embed
from torch import Tensor, nn

from ..layers import (
    DeformableTokenMerging,
    GlobalAttention,
    PatchEmbed,
    Stage,
    maybe_checkpoint,
    relative_position_index,
    resize_rel_pos_table,
)
from .base import PyramidBackbone


# --------------------------------------------------------------------------- blocks
class RelPosAttention(GlobalAttention):
    """Global attention with an optional relative-position bias table.

    The table holds ``(2r-1)^2`` rows for an ``r x r`` grid and is resized
    bicubically to ``(2H-1) x (2W-1)`` for an ``H x W`` input.

    Args:
        dims: Channels.
        num_heads: Heads.
        table_side: ``r``; 0 for no bias.
        qkv_bias: Bias in the ``qkv`` projection.
    """

    def __init__(self, dims: int, num_heads: int, table_side: int = 0, qkv_bias: bool = True) -> None:
        super().__init__(dims, num_heads, qkv_bias)
        self.relative_position_bias_table = (
            nn.Parameter(torch.zeros((2 * table_side - 1) ** 2, num_heads)) if table_side else None
        )

    def forward(self, x: Tensor, hw: tuple[int, int], index: Tensor | None = None) -> Tensor:
        """Attend over ``x`` (B, N, C) on an ``hw`` grid; ``index`` from :func:`relative_position_index`."""
        bias = None
        if self.relative_position_bias_table is not None:
            H, W = hw
            table = resize_rel_pos_table(self.relative_position_bias_table, (2 * H - 1, 2 * W - 1))
            bias = table[index].permute(2, 0, 1)  # heads, N, N
        return super().forward(x, bias)


class MlpBlock(nn.Module):
    """Pre-norm residual MLP block (LIT stages 1-2).

    Args:
        dims: Channels.
        mlp_ratio: Hidden/input ratio.
        drop_path: Stochastic depth rate.
        eps: LayerNorm epsilon.
    """

    def __init__(self, dims: int, mlp_ratio: float, drop_path: float = 0.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dims, eps=eps)
        self.ffn = Mlp(dims, int(dims * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """Apply the block to ``x`` (B, H, W, C); ``index`` is unused."""
        return x + self.drop_path(self.ffn(self.norm(x)))


class AttentionBlock(nn.Module):
    """Pre-norm residual global attention + MLP block (LIT stages 3-4).

    Args:
        dims: Channels.
        num_heads: Heads.
        mlp_ratio: Hidden/input ratio.
        table_side: Side of the relative-position table grid, 0 for none.
        drop_path: Stochastic depth rate.
        eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        dims: int,
        num_heads: int,
        mlp_ratio: float,
        table_side: int = 0,
        drop_path: float = 0.0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dims, eps=eps)
        self.attn = RelPosAttention(dims, num_heads, table_side)
        self.norm2 = nn.LayerNorm(dims, eps=eps)
        self.ffn = Mlp(dims, int(dims * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """Apply the block to ``x`` (B, H, W, C)."""
        B, H, W, C = x.shape
        attn = self.attn(self.norm1(x).reshape(B, H * W, C), (H, W), index).view(B, H, W, C)
        x = x + self.drop_path(attn)
        return x + self.drop_path(self.ffn(self.norm2(x)))


def relative_index(x: Tensor) -> tuple[Tensor]:
    """The relative-position index of a stage's (B, H, W, C) tokens, computed once for its blocks."""
    return (relative_position_index(x.shape[1], x.shape[2], x.device),)


# --------------------------------------------------------------------------- backbone
@MODELS.register_module()
class LIT(PyramidBackbone):
    """LIT pyramid backbone (strides 4, 8, 16, 32).

    Args:
        arch: ``'ti'``, ``'s'``, ``'m'``, ``'b'`` or a dict with ``embed_dims``,
            ``depths``, ``num_heads``, ``mlp_ratios`` (per stage) and ``style``
            (``'pvt'`` or ``'swin'``, see the module docstring).
        in_channels: Input image channels.
        pretrain_img_size: ``style='pvt'``: the image size the absolute position
            embeddings are stored for (their grids are its /4, /8, /16, /32).
        rel_pos_img_size: ``style='swin'``: the image size the relative-position
            tables are stored for (upstream's dense models: 800 for detection,
            512 for segmentation); ImageNet tables are resized to it on loading.
        first_out_norm: ``style='swin'``: a LayerNorm on the stage-1 output too
            (upstream's mmseg port has one).
        out_type: ``'featmap'``: the NCHW maps of ``out_indices``. ``'cls_token'``
            (LIT-Ti, ``out_indices=(3,)``): upstream's classifier input: a class token
            (``cls_token``, its position in the first row of stage 4's table) joins
            the tokens of stage 4 and, after a final LayerNorm (``norm``), is returned
            as (B, C).
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`~.base.DenseBackbone`.
        norm_eval: BatchNorms of token merging in eval mode while training.
        drop_path_rate: Stochastic depth, increasing linearly over the blocks.
        with_cp: Activation checkpointing per block.
        pretrained: Deprecated, see :class:`~.base.DenseBackbone`.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads ``lit_ti.pth``,
            ``lit_s.pth``, ... (or a dense upstream checkpoint).
    """

    arch_keys = ('embed_dims', 'depths', 'num_heads', 'mlp_ratios', 'style')
    per_stage_keys = ('embed_dims', 'depths', 'num_heads', 'mlp_ratios')
    dropped_keys = (r'head\.', r'norm\.', r'cls_token$', r'.*\.relative_position_index$')

    def __init__(
        self,
        arch: str | dict = 's',
        in_channels: int = 3,
        pretrain_img_size: int = 224,
        rel_pos_img_size: int = 800,
        first_out_norm: bool = False,
        out_type: str = 'featmap',
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        drop_path_rate: float = 0.1,
        with_cp: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(arch, out_indices, frozen_stages, norm_eval, pretrained, init_cfg)
        settings = self.arch_settings
        self.style = settings['style']
        if self.style not in ('pvt', 'swin'):
            raise ValueError(f"LIT: style must be 'pvt' or 'swin', got {self.style!r}")
        if first_out_norm and self.style == 'pvt':
            raise ValueError("LIT: first_out_norm applies to style='swin' (LIT-Ti has no output norms)")
        if out_type not in ('featmap', 'cls_token') or (
            out_type == 'cls_token' and (self.style != 'pvt' or self.out_indices != (3,))
        ):
            raise ValueError(
                "LIT: out_type must be 'featmap', or 'cls_token' for LIT-Ti with out_indices=(3,); "
                f'got {out_type!r}'
            )
        dims = list(settings['embed_dims'])
        pvt = self.style == 'pvt'
        eps = 1e-6 if pvt else 1e-5
        self.pretrain_img_size, self.rel_pos_img_size = pretrain_img_size, rel_pos_img_size
        self.patch_embed = PatchEmbed(in_channels, dims[0], patch_size=4, pad=not pvt)
        dpr = self.stage_drop_paths(drop_path_rate, settings['depths'])
        self.stages = nn.ModuleList()
        for i, c in enumerate(dims):
            grid = pretrain_img_size // (4 * 2**i)
            heads, ratio = settings['num_heads'][i], settings['mlp_ratios'][i]
            if i < 2:
                blocks = [MlpBlock(c, ratio, dp, eps) for dp in dpr[i]]
            else:
                side = 0 if pvt else rel_pos_img_size // (4 * 2**i)
                blocks = [AttentionBlock(c, heads, ratio, side, dp, eps) for dp in dpr[i]]
            self.stages.append(
                Stage(
                    blocks,
                    downsample=DeformableTokenMerging(dims[i - 1], c) if i else None,
                    pos_embed=(grid, grid, c) if pvt else None,
                    block_args=None if pvt or i < 2 else relative_index,
                    with_cp=with_cp,
                )
            )
        if not pvt:
            self.add_out_norms(range(0 if first_out_norm else 1, self.num_stages), dims)
        self.cls_token = self.norm = None
        if out_type == 'cls_token':  # the class token's row is the first of stage 4's table
            last = self.stages[-1]
            last.pos_embed = nn.Parameter(torch.zeros(1, 1 + last.pos_embed.shape[1], dims[-1]))
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dims[-1]))
            self.norm = nn.LayerNorm(dims[-1], eps=eps)
        self.declare_pyramid(dims, last=('cls_token', 'norm') if self.cls_token is not None else ())

    def reset_parameters(self) -> None:
        """Upstream initialisation: the ViT scheme, truncated-normal position tables."""
        super().reset_parameters()
        for name, param in self.named_parameters():
            if name.endswith(('pos_embed', 'relative_position_bias_table')):
                nn.init.trunc_normal_(param, std=0.02)

    @property
    def classifier_norm(self) -> str:
        """Where upstream's classifier keeps its final ``norm``: ``norm3`` (S/M/B) or ``norm`` (Ti)."""
        return 'norm' if self.style == 'pvt' else 'norm3'

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Return the pyramid of ``x`` (B, C, H, W): NCHW maps for ``out_indices``, or the class token."""
        self.check_input_size(x, 32 if self.style == 'pvt' else 29)  # floor / ceil(H / 4) >= 8
        if self.cls_token is None:
            return self.forward_stages(self.patch_embed(x))
        x = self.patch_embed(x)
        for stage in self.stages[:-1]:
            x = stage(x)
        last = self.stages[-1]
        x = last.downsample(x)  # B, h, w, C
        B, h, w, C = x.shape
        pos = last.pos_embed
        grid = resample_abs_pos_embed(
            pos[:, 1:], (h, w), last.pos_grid, num_prefix_tokens=0, interpolation='bilinear', antialias=False
        )
        cls_token = self.cls_token.expand(B, -1, -1) + pos[:, :1]
        tokens = torch.cat([cls_token, x.reshape(B, h * w, C) + grid], dim=1)
        tokens = tokens.unsqueeze(1)  # B, 1, 1 + h*w, C: the blocks take a (B, H, W, C) map
        for block in last.blocks:
            tokens = maybe_checkpoint(block, tokens, enabled=last.with_cp and self.training)
        return (self.norm(tokens[:, 0, 0]),)  # B, C

    def is_new_key(self, key: str) -> bool:
        """Output norms exist only in the dense model."""
        return re.fullmatch(r'norm\d\.(weight|bias)', key) is not None

    def convert_checkpoint(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map upstream LIT keys (classification or dense release) to this model.

        Relative-position tables of the ImageNet release (stored for
        ``pretrain_img_size``) are resized to the model's, as upstream's dense
        loader does; a dense release's tables must already have the model's size
        (800 for detection, 512 for segmentation), or the strict check fails.
        """
        converted = convert_lit_checkpoint(state_dict)
        for i, stage in enumerate(self.stages):
            key = f'stages.{i}.pos_embed'
            if stage.pos_embed is not None and key in converted:
                table = converted[key]
                if table.shape[1] == stage.pos_embed.shape[1] + 1:
                    converted[key] = table[:, 1:]  # the class-token slot of upstream's last table
            imagenet_rows = (2 * (self.pretrain_img_size // (4 * 2**i)) - 1) ** 2
            for j, block in enumerate(stage.blocks):
                key = f'stages.{i}.blocks.{j}.attn.relative_position_bias_table'
                own = getattr(getattr(block, 'attn', None), 'relative_position_bias_table', None)
                if own is not None and key in converted and converted[key].shape[0] == imagenet_rows:
                    side = round(own.shape[0] ** 0.5)
                    converted[key] = resize_rel_pos_table(converted[key], (side, side))
        return converted

    def describe(self) -> str:
        """The model in messages, with the image size its position tables are for."""
        return f'LIT(arch={self.arch_name!r}, rel_pos_img_size={self.rel_pos_img_size})'


# --------------------------------------------------------------------------- converter
def convert_lit_checkpoint(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename upstream LIT keys to vitdense keys.

    LIT-S/M/B (Swin-like): ``layers.i.blocks.j.*`` with token merging at the end
    of stage ``i``; MLP-only blocks name their norm ``norm2``. LIT-Ti (PVT-like):
    ``patch_embed{1..4}``, ``pos_embed{1..4}``, ``block{1..4}.j.*``. In both, the
    MLP is ``mlp`` and merging is ``dconv`` + ``norm_layer``. Unknown keys pass
    unchanged so that the strict check reports them.

    Args:
        state_dict: Upstream tensors, classification-only keys removed.

    Returns:
        The renamed state dict.
    """
    block_key = re.compile(r'((?:layers\.\d+\.blocks|block\d)\.\d+)\.(.*)')
    attention_blocks = {
        m.group(1) for key in state_dict if (m := block_key.match(key)) and m.group(2).startswith('norm1.')
    }
    converted = {}
    for key, value in state_dict.items():
        new = key
        m = block_key.match(key)
        if m and m.group(1) not in attention_blocks and m.group(2).startswith('norm2.'):
            new = f'{m.group(1)}.norm.{m.group(2)[len("norm2.") :]}'
        new = new.replace('.mlp.', '.ffn.').replace('.dconv.', '.conv.').replace('.norm_layer.', '.norm.')
        if m := re.match(r'layers\.(\d+)\.downsample\.(.*)', new):
            new = f'stages.{int(m.group(1)) + 1}.downsample.{m.group(2)}'
        elif m := re.match(r'layers\.(\d+)\.(.*)', new):
            new = f'stages.{m.group(1)}.{m.group(2)}'
        elif m := re.match(r'block(\d)\.(.*)', new):
            new = f'stages.{int(m.group(1)) - 1}.blocks.{m.group(2)}'
        elif m := re.match(r'pos_embed(\d)$', new):
            new = f'stages.{int(m.group(1)) - 1}.pos_embed'
        elif m := re.match(r'patch_embed1\.(.*)', new):
            new = f'patch_embed.{m.group(1)}'
        elif m := re.match(r'patch_embed(\d)\.(.*)', new):
            new = f'stages.{int(m.group(1)) - 1}.downsample.{m.group(2)}'
        converted[new] = value
    return converted


# --------------------------------------------------------------------------- sizes
LIT.arch_zoo = {
    'ti': dict(
        embed_dims=(64, 128, 320, 512),
        depths=(3, 4, 6, 3),
        num_heads=(1, 2, 5, 8),
        mlp_ratios=(8, 8, 4, 4),
        style='pvt',
    ),
    's': dict(
        embed_dims=(96, 192, 384, 768),
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        mlp_ratios=(4, 4, 4, 4),
        style='swin',
    ),
    'm': dict(
        embed_dims=(96, 192, 384, 768),
        depths=(2, 2, 18, 2),
        num_heads=(3, 6, 12, 24),
        mlp_ratios=(4, 4, 4, 4),
        style='swin',
    ),
    'b': dict(
        embed_dims=(128, 256, 512, 1024),
        depths=(2, 2, 18, 2),
        num_heads=(4, 8, 16, 32),
        mlp_ratios=(4, 4, 4, 4),
        style='swin',
    ),
}
