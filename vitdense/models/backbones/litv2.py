"""LITv2: fast vision transformers with HiLo attention, as a dense-prediction backbone.

Paper: Zizheng Pan, Jianfei Cai, Bohan Zhuang. "Fast Vision Transformers with
HiLo Attention." NeurIPS 2022. https://arxiv.org/abs/2205.13213
Upstream: https://github.com/ziplab/LITv2 (``detection/mmdet/models/backbones/litv2.py``).

Layout: a 4x4 patch embedding, then four stages. Stages 1-2 hold conv-FFN blocks
only; stages 3-4 hold HiLo attention + conv-FFN blocks. Stages 2-4 start with
deformable token merging. Given the same weights, the pyramid equals the
upstream dense backbone's for any input size: the patch embedding pads to a
multiple of 4, token merging floors odd sides, HiLo zero-pads to a multiple of
its window (padded tokens take part in the pooled keys and the windows, as
upstream) and crops back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from timm.layers import DropPath
from torch import Tensor, nn

from ..layers import (
    ContextBroadcast,
    ConvFFN,
    DeformableTokenMerging,
    PatchEmbed,
    Stage,
    crop_to,
    pad_to_multiple,
    window_attention,
    window_merge,
    window_partition,
)
from .base import PyramidBackbone


# --------------------------------------------------------------------------- blocks
class HiLoAttention(nn.Module):
    """HiLo attention on channels-last tokens.

    ``int(num_heads * alpha)`` Lo-Fi heads attend from every token to keys and
    values average-pooled over ``window_size`` x ``window_size`` cells; the
    other (Hi-Fi) heads attend inside non-overlapping windows of that size. The
    two outputs are concatenated (Hi-Fi first). ``window_size == 1`` makes every
    head Lo-Fi without pooling, i.e. plain global multi-head attention.

    Args:
        dims: Channels of the tokens.
        num_heads: Total number of heads.
        window_size: Side ``s`` of the Hi-Fi windows and of the Lo-Fi pooling.
        alpha: Share of the heads that are Lo-Fi.
        qkv_bias: Whether the query/key/value projections have a bias.
    """

    def __init__(
        self, dims: int, num_heads: int, window_size: int = 2, alpha: float = 0.9, qkv_bias: bool = True
    ) -> None:
        super().__init__()
        if dims % num_heads:
            raise ValueError(f'HiLo: dims {dims} must be divisible by num_heads {num_heads}')
        if window_size < 1:
            raise ValueError(f'HiLo: window_size must be >= 1, got {window_size}')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'HiLo: alpha must be in [0, 1], got {alpha}')
        self.head_dims = dims // num_heads
        self.window_size = window_size
        self.l_heads = num_heads if window_size == 1 else int(num_heads * alpha)
        self.h_heads = num_heads - self.l_heads
        l_dims, h_dims = self.l_heads * self.head_dims, self.h_heads * self.head_dims
        if self.l_heads:
            self.l_q = nn.Linear(dims, l_dims, bias=qkv_bias)
            self.l_kv = nn.Linear(dims, 2 * l_dims, bias=qkv_bias)
            self.l_proj = nn.Linear(l_dims, l_dims)
        if self.h_heads:
            self.h_qkv = nn.Linear(dims, 3 * h_dims, bias=qkv_bias)
            self.h_proj = nn.Linear(h_dims, h_dims)

    def _hifi(self, x: Tensor) -> Tensor:
        """Window attention over ``x`` (B, Hp, Wp, C), sides multiples of the window."""
        _, Hp, Wp, _ = x.shape
        q, k, v = window_partition(self.h_qkv(x), self.window_size, self.h_heads, self.head_dims)
        out = window_attention(q, k, v)  # B*nW, heads, s*s, d
        return self.h_proj(window_merge(out, self.window_size, Hp, Wp))

    def _lofi(self, x: Tensor, x_padded: Tensor) -> Tensor:
        """Attention from ``x`` (B, H, W, C) to pooled ``x_padded`` (B, Hp, Wp, C)."""
        B, H, W, C = x.shape
        heads, d = self.l_heads, self.head_dims
        q = self.l_q(x).view(B, H * W, heads, d).transpose(1, 2)  # B, heads, N, d
        if self.window_size > 1:
            pooled = F.avg_pool2d(x_padded.permute(0, 3, 1, 2), self.window_size)  # B, C, hg, wg
            kv_src = pooled.flatten(2).transpose(1, 2)  # B, M, C
        else:
            kv_src = x.reshape(B, H * W, C)
        kv = self.l_kv(kv_src).view(B, -1, 2, heads, d).permute(2, 0, 3, 1, 4)  # 2, B, heads, M, d
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])  # B, heads, N, d
        return self.l_proj(out.transpose(1, 2).reshape(B, H, W, heads * d))

    def forward(self, x: Tensor) -> Tensor:
        """Attend over ``x`` (B, H, W, C); returns (B, H, W, C)."""
        _, H, W, _ = x.shape
        x_padded = pad_to_multiple(x, self.window_size)
        outs = []
        if self.h_heads:
            outs.append(crop_to(self._hifi(x_padded), H, W))
        if self.l_heads:
            outs.append(self._lofi(x, x_padded))
        return torch.cat(outs, dim=-1) if len(outs) == 2 else outs[0]


class ConvFFNBlock(nn.Module):
    """Pre-norm residual conv-FFN block (LITv2 stages 1-2).

    Args:
        dims: Channels.
        mlp_ratio: Hidden/input channel ratio of the FFN.
        drop_path: Stochastic depth rate.
        cb: Context broadcasting on the FFN output: ``'none'``, ``'cb'`` or ``'cbs'``.
    """

    def __init__(self, dims: int, mlp_ratio: float = 4.0, drop_path: float = 0.0, cb: str = 'none') -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dims)
        self.ffn = ConvFFN(dims, int(dims * mlp_ratio))
        self.cb = ContextBroadcast(dims, cb == 'cbs') if cb != 'none' else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to ``x`` (B, H, W, C)."""
        return x + self.drop_path(self.cb(self.ffn(self.norm(x))))


class HiLoBlock(nn.Module):
    """Pre-norm residual HiLo attention + conv-FFN block (LITv2 stages 3-4).

    Args:
        dims: Channels.
        num_heads: Attention heads.
        window_size: HiLo window size.
        alpha: Share of Lo-Fi heads.
        mlp_ratio: Hidden/input channel ratio of the FFN.
        drop_path: Stochastic depth rate.
        cb: Context broadcasting on the FFN output: ``'none'``, ``'cb'`` or ``'cbs'``.
    """

    def __init__(
        self,
        dims: int,
        num_heads: int,
        window_size: int,
        alpha: float,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        cb: str = 'none',
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dims)
        self.attn = HiLoAttention(dims, num_heads, window_size, alpha)
        self.norm2 = nn.LayerNorm(dims)
        self.ffn = ConvFFN(dims, int(dims * mlp_ratio))
        self.cb = ContextBroadcast(dims, cb == 'cbs') if cb != 'none' else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to ``x`` (B, H, W, C)."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.cb(self.ffn(self.norm2(x))))


# --------------------------------------------------------------------------- backbone
@MODELS.register_module()
class LITv2(PyramidBackbone):
    """LITv2 pyramid backbone (strides 4, 8, 16, 32).

    Args:
        arch: ``'s'``, ``'m'``, ``'b'`` or a dict with ``embed_dims``, ``depths``
            and ``num_heads``.
        alpha: Share of Lo-Fi heads in HiLo attention.
        local_ws: HiLo window size per stage; 0 makes a conv-FFN stage.
            ``(0, 0, 4, 1)`` is the faster variant.
        mlp_ratio: FFN expansion.
        in_channels: Input image channels.
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`~.base.DenseBackbone`.
        norm_eval: Keep the BatchNorm layers of token merging in eval mode
            while training.
        first_out_norm: Add a LayerNorm to the stage-1 output too (upstream's
            mmseg port has one, its mmdet port does not). Stages 2-4 outputs
            always get one.
        drop_path_rate: Stochastic depth, increasing linearly over the blocks.
        with_cp: Activation checkpointing per block.
        cb: Context broadcasting (Hyeon-Woo et al., ICCV 2023) on every block's
            FFN output, mixing it with its mean over the stage's tokens: ``'none'``
            (default, upstream LITv2), ``'cb'`` (fixed 0.5) or ``'cbs'`` (learned
            per-channel scale starting at 0.5; new keys when loading upstream weights).
        init_cfg: Initialisation; ``dict(type='Pretrained', checkpoint=...)``
            loads the upstream ImageNet release (``litv2_s.pth``, ...).
    """

    arch_keys = ('embed_dims', 'depths', 'num_heads')
    per_stage_keys = ('depths', 'num_heads')
    #: Upstream's classifier normalises the stage-4 tokens with ``norm``: the dense output norm ``norm3``.
    classifier_norm = 'norm3'

    def __init__(
        self,
        arch: str | dict = 's',
        alpha: float = 0.9,
        local_ws: Sequence[int] = (0, 0, 2, 1),
        mlp_ratio: float = 4.0,
        in_channels: int = 3,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        first_out_norm: bool = False,
        drop_path_rate: float = 0.2,
        with_cp: bool = False,
        cb: str = 'none',
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(arch, out_indices, frozen_stages, norm_eval, pretrained, init_cfg)
        if cb not in ('none', 'cb', 'cbs'):
            raise ValueError(f"LITv2: cb must be 'none', 'cb' or 'cbs', got {cb!r}")
        settings = self.arch_settings
        embed_dims, depths, num_heads = settings['embed_dims'], settings['depths'], settings['num_heads']
        if len(local_ws) != self.num_stages or any(ws < 0 for ws in local_ws):
            raise ValueError(f'LITv2: local_ws needs {self.num_stages} entries >= 0, got {local_ws}')
        self.local_ws = tuple(local_ws)
        dims = [embed_dims * 2**i for i in range(self.num_stages)]

        self.patch_embed = PatchEmbed(in_channels, embed_dims, patch_size=4)
        dpr = self.stage_drop_paths(drop_path_rate, depths)
        self.stages = nn.ModuleList()
        for i, (c, ws) in enumerate(zip(dims, local_ws, strict=True)):
            if ws == 0:
                blocks = [ConvFFNBlock(c, mlp_ratio, dp, cb) for dp in dpr[i]]
            else:
                blocks = [HiLoBlock(c, num_heads[i], ws, alpha, mlp_ratio, dp, cb) for dp in dpr[i]]
            downsample = DeformableTokenMerging(dims[i - 1], c) if i else None
            self.stages.append(Stage(blocks, downsample, with_cp=with_cp))
        self.add_out_norms(range(0 if first_out_norm else 1, self.num_stages), dims)
        self.declare_pyramid(dims)

    def describe(self) -> str:
        """The model in messages, with its windows: ``LITv2(arch='s', local_ws=(0, 0, 2, 1))``."""
        return f'LITv2(arch={self.arch_name!r}, local_ws={self.local_ws})'

    def reset_parameters(self) -> None:
        """Upstream initialisation: the ViT scheme, He-normal depth-wise convolutions (CBS at 0.5)."""
        super().reset_parameters()
        for module in self.modules():
            if isinstance(module, ConvFFN):
                module.reset_parameters()
            elif isinstance(module, ContextBroadcast) and module.scale is not None:
                nn.init.constant_(module.scale, 0.5)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Return the pyramid of ``x`` (B, C, H, W): NCHW maps for ``out_indices``."""
        self.check_input_size(x, 29)  # ceil(H / 4) >= 8
        return self.forward_stages(self.patch_embed(x))

    def is_new_key(self, key: str) -> bool:
        """Output norms exist only in the dense model; CBS scales only with ``cb='cbs'``."""
        return re.fullmatch(r'norm\d\.(weight|bias)|stages\.\d+\.blocks\.\d+\.cb\.scale', key) is not None

    def convert_checkpoint(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map upstream LITv2 keys (classification or dense release) to this model."""
        return convert_litv2_checkpoint(state_dict, self.local_ws)


# --------------------------------------------------------------------------- converter
def convert_litv2_checkpoint(state_dict: dict[str, Tensor], local_ws: Sequence[int]) -> dict[str, Tensor]:
    """Rename upstream LITv2 keys to vitdense keys.

    Upstream keeps token merging at the end of stage ``i`` (``layers.i.downsample``)
    where vitdense starts stage ``i + 1`` with it; its conv-FFN blocks call their
    norm ``norm2``, its FFN ``mlp`` with a nested ``dwconv.dwconv``. Keys already
    in vitdense layout, and keys this function does not know, pass unchanged.

    Args:
        state_dict: Upstream tensors, classification-only keys already removed.
        local_ws: The model's ``local_ws`` (0 marks conv-FFN stages).

    Returns:
        The renamed state dict.
    """
    converted = {}
    for key, value in state_dict.items():
        new = key
        m = re.match(r'layers\.(\d+)\.(.*)', key)
        if m:
            stage, rest = int(m.group(1)), m.group(2)
            if rest.startswith('downsample.'):
                rest = rest.replace('downsample.dconv.', 'downsample.conv.')
                rest = rest.replace('downsample.norm_layer.', 'downsample.norm.')
                stage += 1
            else:
                rest = re.sub(r'\.mlp\.dwconv\.dwconv\.', '.ffn.dwconv.', rest)
                rest = rest.replace('.mlp.', '.ffn.')
                if stage < len(local_ws) and local_ws[stage] == 0:
                    rest = re.sub(r'^(blocks\.\d+)\.norm2\.', r'\1.norm.', rest)
            new = f'stages.{stage}.{rest}'
        converted[new] = value
    return converted


# --------------------------------------------------------------------------- sizes
LITv2.arch_zoo = {
    's': dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    'm': dict(embed_dims=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
    'b': dict(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
}
