"""SG-Former: self-guided transformer with evolving token reallocation, as a dense backbone.

Paper: Sucheng Ren, Xingyi Yang, Songhua Liu, Xinchao Wang. "SG-Former: Self-guided
Transformer with Evolving Token Reallocation." ICCV 2023. https://arxiv.org/abs/2308.12216
Upstream: https://github.com/OliverRensu/SG-Former (``sgformer.py``, classification only).

Layout: a stem of three convolutions with GroupNorm (stride 4) and a fixed sin-cos
position embedding, then four stages; stages 2-4 start with a 1x1 -> depth-wise 3x3/2
-> 1x1 merging. In stages 1-3 blocks alternate:

* hybrid-scale attention (even blocks): half the heads attend globally to keys and
  values reduced by a ``sr x sr`` strided convolution, half attend inside 7x7 windows;
  the block also emits a significance map, the attention each token receives
  (averaged over heads and queries) from both halves;
* self-guided attention (odd blocks): all heads attend to a short key/value sequence
  made by sorting the tokens by that significance and merging consecutive runs of
  the sorted order with learned weights: large groups for the least significant
  quarter, smaller ones for the middle half, the smallest for the most significant
  quarter (halves in stage 3). This is done twice, on the row-major and on the
  column-major order, feeding half the heads each.

Stage 4 uses plain attention. Every attention adds a locally-enhanced positional
term (LePE: linear + depth-wise 3x3) before its output projection. Each stage ends
with a LayerNorm whose output is the stage's feature map.

Any input size. Upstream needs 7-divisible maps and token counts that fill its
224-based groups exactly (e.g. inputs of 224k x 224m pixels); there, vitdense gives
its result. Elsewhere:

* windows: the map is zero-padded to a multiple of 7, padded keys are masked out,
  and a window's significance averages its real queries only;
* groups: a segment of ``L`` sorted tokens with group size ``g`` forms
  ``G = max(1, round(L / g))`` (halves round up) consecutive groups of ``floor`` or ``ceil(L / G)``
  tokens (segments split at ``N // 4`` and ``3N // 4``, or ``N // 2``, as upstream).
  A group of ``m`` tokens weighs its ``i``-th token by the integral of the learned
  weights (length ``g``, seen as a step function over ``[0, g)``) over
  ``[i * g / m, (i + 1) * g / m)``: the weights keep their total, and for ``m == g``
  they are upstream's weights.

The sorting, gathering and group sums are batched tensor operations (``sort``,
``gather``, ``index_add``); gradients flow to the tokens and the group weights, as
upstream (the significance itself is detached there too).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from timm.layers import DropPath, resample_abs_pos_embed
from torch import Tensor, nn
from torch.fx.experimental.symbolic_shapes import statically_known_true

from ..layers import (
    ConvFFN,
    GlobalAttention,
    Stage,
    crop_to,
    pad_to_multiple,
    sincos_pos_embed_2d,
    window_merge,
    window_partition,
)
from .base import PyramidBackbone
from .weights import fuse_q_kv, rename_pvt_layout

#: Per spatial-reduction ratio: the segments of the sorted tokens (split at multiples of
#: ``N // divisor``) and their group sizes.
GROUPING = {
    8: dict(divisor=4, splits=(1, 3), groups=(196, 56, 28)),
    4: dict(divisor=4, splits=(1, 3), groups=(49, 14, 7)),
    2: dict(divisor=2, splits=(1,), groups=(2, 1)),
}


# --------------------------------------------------------------------------- blocks
def add_lepe(module: nn.Module, dims: int) -> None:
    """Give ``module`` the layers of the locally-enhanced positional term (LePE)."""
    module.lepe_linear = nn.Linear(dims, dims)
    module.lepe_conv = nn.Conv2d(dims, dims, 3, padding=1, groups=dims)


def lepe(module: nn.Module, x: Tensor) -> Tensor:
    """LePE of ``x`` (B, H, W, C): linear, then depth-wise 3x3 convolution; as (B, H*W, C)."""
    return module.lepe_conv(module.lepe_linear(x).permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)


def received_attention(q: Tensor, k: Tensor, scale: float, budget: int = 2**26) -> Tensor:
    """Attention each key receives, averaged over heads and queries, without keeping the map.

    The map ``softmax(q k^T * scale)`` is built under ``no_grad`` in blocks of queries of at most
    ``budget`` elements (one block when compiling or exporting) and reduced at once, so nothing is
    kept for backward and memory stays bounded at any resolution. In one block the result is the
    reference path's to the bit.

    Args:
        q: (B, h, N, d) queries.
        k: (B, h, M, d) keys.
        scale: Logit scale.
        budget: Largest block of the map, in elements.

    Returns:
        (B, M) mean attention received.
    """
    B, h, N, _ = q.shape
    with torch.no_grad():
        if torch.compiler.is_compiling() or B * h * N * k.shape[2] <= budget:
            return ((q @ k.transpose(-2, -1)) * scale).softmax(-1).mean(1).mean(1)
        step = max(1, budget // (B * h * k.shape[2]))
        blocks = (
            ((q[:, :, i : i + step] @ k.transpose(-2, -1)) * scale).softmax(-1).mean(1).sum(1)
            for i in range(0, N, step)
        )  # each B, M
        return sum(blocks) / N


class HybridScaleAttention(nn.Module):
    """Half the heads global over conv-reduced keys, half in 7x7 windows; emits significance.

    Args:
        dims: Channels.
        num_heads: Heads (even; half global, half local).
        sr_ratio: Stride of the key/value reduction of the global half.
        window_size: Side of the local windows.
    """

    def __init__(self, dims: int, num_heads: int, sr_ratio: int, window_size: int = 7) -> None:
        super().__init__()
        add_lepe(self, dims)
        if num_heads % 2:
            raise ValueError(f'SG-Former: hybrid attention needs an even head count, got {num_heads}')
        self.num_heads, self.sr_ratio, self.window_size = num_heads, sr_ratio, window_size
        self.q1 = nn.Linear(dims, dims // 2)
        self.kv1 = nn.Linear(dims, dims)
        self.q2 = nn.Linear(dims, dims // 2)
        self.kv2 = nn.Linear(dims, dims)
        self.sr = nn.Conv2d(dims, dims, sr_ratio, sr_ratio)
        self.norm = nn.LayerNorm(dims)
        self.act = nn.GELU()
        self.proj = nn.Linear(dims, dims)
        #: The reference path (upstream's): attention maps materialised and kept for backward.
        self.reference = False

    def _global(self, x: Tensor) -> tuple[Tensor, Tensor]:
        B, H, W, C = x.shape
        h, d = self.num_heads // 2, C // self.num_heads
        q = self.q1(x).view(B, H * W, h, d).transpose(1, 2)  # B, h, N, d
        reduced = self.sr(x.permute(0, 3, 1, 2))  # B, C, H/s, W/s
        hs, ws = reduced.shape[-2:]
        reduced = self.act(self.norm(reduced.flatten(2).transpose(1, 2)))  # B, M, C
        k, v = self.kv1(reduced).view(B, hs * ws, 2, h, d).permute(2, 0, 3, 1, 4)
        if self.reference:
            attn = ((q @ k.transpose(-2, -1)) * d**-0.5).softmax(-1)  # B, h, N, M
            out = attn @ v
            received = attn.detach().mean(1).mean(1)  # B, M
        else:
            out = F.scaled_dot_product_attention(q, k, v)  # B, h, N, d
            received = received_attention(q, k, d**-0.5)
        out = out.transpose(1, 2).reshape(B, H * W, h * d)
        received = received.view(B, 1, hs, ws)  # B, 1, H/s, W/s
        return out, F.interpolate(received, size=(H, W), mode='nearest')[:, 0]

    def _local(self, x: Tensor) -> tuple[Tensor, Tensor]:
        B, H, W, C = x.shape
        s, h, d = self.window_size, self.num_heads // 2, C // self.num_heads
        x = pad_to_multiple(x, s)
        Hp, Wp = x.shape[1:3]
        hg, wg = Hp // s, Wp // s
        q = window_partition(self.q2(x), s, h, d)[0]  # B*nW, h, s*s, d
        k, v = window_partition(self.kv2(x), s, h, d)
        mask = None
        real = None
        # symbolic sizes (compiled over varying sizes, exported) take the masked path whatever the size,
        # so that one graph serves maps that need padding and maps that do not
        padded = not (statically_known_true(Hp == H) and statically_known_true(Wp == W))
        if padded:
            real = pad_to_multiple(x.new_ones(1, H, W, 1, dtype=torch.bool), s)  # 1, Hp, Wp, 1
            real = window_partition(real, s, 1, 1)[0].view(1, hg * wg, 1, s * s)  # 1, nW, 1, s*s
            mask = real[..., None, :].expand(B, -1, -1, -1, -1).reshape(B * hg * wg, 1, 1, s * s)
        if self.reference:
            logits = (q @ k.transpose(-2, -1)) * d**-0.5  # B*nW, h, s*s, s*s
            if mask is not None:
                logits = logits.masked_fill(~mask, float('-inf'))
            attn = logits.softmax(-1)
            out = attn @ v
            per_query = attn.detach().mean(1)  # mean over heads
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            with torch.no_grad():  # the map lives only to be summed: nothing kept for backward
                logits = (q @ k.transpose(-2, -1)) * d**-0.5
                if mask is not None:
                    logits = logits.masked_fill(~mask, float('-inf'))
                per_query = logits.softmax(-1).mean(1)
        out = window_merge(out, s, Hp, Wp)  # B, Hp, Wp, h*d
        per_query = per_query.view(B, hg * wg, s * s, s * s)
        if real is None:
            received = per_query.mean(2)  # B, nW, s*s (keys)
        else:
            weights = real.view(1, hg * wg, s * s, 1).to(per_query.dtype)
            received = (per_query * weights).sum(2) / weights.sum(2).clamp(min=1)
        received = received.view(B, hg, wg, s, s).permute(0, 1, 3, 2, 4).reshape(B, Hp, Wp)
        out, received = crop_to(out, H, W), crop_to(received, H, W, channels_last=False)
        return out.reshape(B, H * W, h * d), received

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Attend over ``x`` (B, H, W, C); returns (B, H*W, C) and the significance (B, H, W)."""
        glob, glob_sig = self._global(x)
        local, local_sig = self._local(x)
        out = self.proj(torch.cat([glob, local], dim=-1) + lepe(self, x))
        return out, local_sig + glob_sig


def group_merge(tokens: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Merge consecutive runs of ``tokens`` (B, L, C) with a learned weight vector (see module doc).

    Args:
        tokens: A segment of tokens in significance order.
        weight: The group weights, length ``g`` (upstream's ``Linear(g, 1)``).
        bias: That linear layer's bias.

    Returns:
        (B, G, C) merged tokens.
    """
    B, L, C = tokens.shape
    g = weight.numel()
    G = (2 * L + g) // (2 * g)  # round(L / g), halves up, in integers (exportable)
    G = max(1, G) if isinstance(G, int) else torch.sym_max(1, G)  # SymInt under torch.export
    if statically_known_true(L == G * g):  # upstream's exact grouping (the general path computes it too)
        return torch.einsum('bgkc,k->bgc', tokens.reshape(B, G, g, C), weight.to(tokens.dtype)) + bias.to(
            tokens.dtype
        )
    index = torch.arange(L, device=tokens.device)
    group = index * G // L  # floor: consecutive groups of floor or ceil(L / G) tokens
    first = (group * L + G - 1) // G  # ceil(group * L / G): the first token of each token's group
    size = ((group + 1) * L + G - 1) // G - first
    offset = index - first
    # token ``offset`` of a group of ``size`` covers [lo, hi) of the step profile (step k: [k, k + 1));
    # its weight integrates the profile there: the overlaps with the steps (L, g) times the weights
    # (in float32 or wider: offsets times g exceed what half types hold exactly)
    dtype = torch.promote_types(weight.dtype, torch.float32)
    lo = (offset * g).to(dtype) / size
    hi = ((offset + 1) * g).to(dtype) / size
    steps = torch.arange(g, device=tokens.device, dtype=dtype)
    overlap = (torch.minimum(hi[:, None], steps + 1) - torch.maximum(lo[:, None], steps)).clamp(min=0)
    w = (overlap * weight.to(dtype)).sum(1)  # L; elementwise, so autocast leaves its precision alone
    # the group sums accumulate in that precision too (a half model's tokens come back in their dtype)
    merged = tokens.new_zeros(B, G, C, dtype=dtype).index_add_(1, group, tokens.to(dtype) * w[None, :, None])
    return (merged + bias.to(dtype)).to(tokens.dtype)


class SelfGuidedAttention(nn.Module):
    """All heads attend to key/value tokens merged by significance (half per scan order).

    Args:
        dims: Channels.
        num_heads: Heads (even; half per scan order).
        sr_ratio: Selects the grouping (see ``GROUPING``).
    """

    #: It sorts tokens by a computed significance: float32 rounding may reorder near ties, which
    #: ``vitdense.deploy.onnx.check_onnx`` allows for when comparing an export with PyTorch.
    reorders_near_ties = True

    def __init__(self, dims: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        add_lepe(self, dims)
        self.num_heads = num_heads
        self.divisor, self.splits, groups = GROUPING[sr_ratio].values()
        self.q = nn.Linear(dims, dims)
        self.kv1 = nn.Linear(dims, dims)
        self.kv2 = nn.Linear(dims, dims)
        for i, g in enumerate(groups, start=1):
            self.add_module(f'f{i}', nn.Linear(g, 1))
        self.proj = nn.Linear(dims, dims)

    def _merge(self, tokens: Tensor, significance: Tensor) -> Tensor:
        """Sort ``tokens`` (B, N, C) by ``significance`` (B, N) and merge each segment."""
        B, N, C = tokens.shape
        order = torch.sort(significance, dim=1).indices  # ascending, as upstream
        tokens = tokens.gather(1, order[..., None].expand(-1, -1, C))
        bounds = [0] + [N // self.divisor * k for k in self.splits] + [N]
        merged = []
        for i in range(len(bounds) - 1):
            f = getattr(self, f'f{i + 1}')
            merged.append(group_merge(tokens[:, bounds[i] : bounds[i + 1]], f.weight[0], f.bias))
        return torch.cat(merged, dim=1)

    def forward(self, x: Tensor, significance: Tensor) -> Tensor:
        """Attend over ``x`` (B, H, W, C) guided by ``significance`` (B, H, W); returns (B, H*W, C)."""
        B, H, W, C = x.shape
        h, d = self.num_heads // 2, C // self.num_heads
        q = self.q(x).view(B, H * W, self.num_heads, d).transpose(1, 2)
        rows = self._merge(x.reshape(B, H * W, C), significance.reshape(B, H * W))
        cols = self._merge(
            x.transpose(1, 2).reshape(B, H * W, C), significance.transpose(1, 2).reshape(B, H * W)
        )
        kv1 = self.kv1(rows).view(B, -1, 2, h, d).permute(2, 0, 3, 1, 4)
        kv2 = self.kv2(cols).view(B, -1, 2, h, d).permute(2, 0, 3, 1, 4)
        kv = torch.cat([kv1, kv2], dim=2)  # 2, B, heads, M, d
        out = F.scaled_dot_product_attention(q, kv[0], kv[1]).transpose(1, 2).reshape(B, H * W, C)
        return self.proj(out + lepe(self, x))


class LePEAttention(GlobalAttention):
    """Plain global attention plus LePE (SG-Former stage 4).

    Args:
        dims: Channels.
        num_heads: Heads.
    """

    def __init__(self, dims: int, num_heads: int) -> None:
        super().__init__(dims, num_heads)
        add_lepe(self, dims)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over ``x`` (B, H, W, C); returns (B, H*W, C)."""
        B, H, W, C = x.shape
        return self.proj(self.attend(x.reshape(B, H * W, C)) + lepe(self, x))


class SGBlock(nn.Module):
    """``x + attn(norm1(x))``, ``x + ConvFFN(norm2(x))`` with one of the three attentions.

    Args:
        dims: Channels.
        num_heads: Heads.
        kind: ``'hybrid'``, ``'guided'`` or ``'plain'``.
        sr_ratio: Spatial reduction of the stage.
        mlp_ratio: FFN expansion.
        drop_path: Stochastic depth rate.
    """

    def __init__(
        self, dims: int, num_heads: int, kind: str, sr_ratio: int, mlp_ratio: float, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        self.kind = kind
        self.norm1 = nn.LayerNorm(dims, eps=1e-6)
        if kind == 'hybrid':
            self.attn = HybridScaleAttention(dims, num_heads, sr_ratio)
        elif kind == 'guided':
            self.attn = SelfGuidedAttention(dims, num_heads, sr_ratio)
        else:
            self.attn = LePEAttention(dims, num_heads)
        self.norm2 = nn.LayerNorm(dims, eps=1e-6)
        self.ffn = ConvFFN(dims, int(dims * mlp_ratio), residual=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, significance: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Apply the block to ``x`` (B, H, W, C); returns it and the significance (hybrid blocks)."""
        B, H, W, C = x.shape
        y = self.norm1(x)
        if self.kind == 'hybrid':
            y, significance = self.attn(y)
        elif self.kind == 'guided':
            y, significance = self.attn(y, significance), None
        else:
            y, significance = self.attn(y), None
        x = x + self.drop_path(y.view(B, H, W, C))
        return x + self.drop_path(self.ffn(self.norm2(x))), significance


class WholeSampleNorm(nn.GroupNorm):
    """One-group GroupNorm (each sample normalised over all its channels and pixels), fast at any batch.

    PyTorch's ``group_norm`` kernel reduces each (sample, group) in a single thread block: with one group
    that is one block per image, so at detection resolution and 2 images per GPU the GPU waits on 2
    blocks (the largest cost of SG-Former-S's inference at 800 x 1216 in a torch.profiler trace on an
    H200). Here the statistics come from ``torch.var_mean``, whose reduction is split over the GPU,
    and normalisation plus affine is one multiply-add, in float32 or wider. The result has
    ``group_norm``'s dtype on CUDA: float32 under autocast, the input's otherwise. ``reference``
    switches to ``group_norm`` itself.

    Args:
        num_channels: Channels of the input (B, C, H, W).
    """

    def __init__(self, num_channels: int) -> None:
        super().__init__(1, num_channels)
        #: The reference path: ``torch.nn.functional.group_norm``.
        self.reference = False

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` (B, C, H, W); returns (B, C, H, W)."""
        if self.reference:
            return super().forward(x)
        dtype = torch.promote_types(x.dtype, torch.float32)
        out_dtype = dtype if torch.is_autocast_enabled(x.device.type) else x.dtype
        x = x.to(dtype)
        var, mean = torch.var_mean(x, dim=(1, 2, 3), correction=0, keepdim=True)  # B, 1, 1, 1
        scale = torch.rsqrt(var + self.eps) * self.weight.to(dtype).view(1, -1, 1, 1)  # B, C, 1, 1
        shift = self.bias.to(dtype).view(1, -1, 1, 1) - mean * scale  # B, C, 1, 1
        return torch.addcmul(shift, x, scale).to(out_dtype)


class ConvGN(nn.Sequential):
    """Bias-free convolution followed by a one-group GroupNorm (upstream's ``Conv2d_BN``).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel side.
        stride: Stride.
        groups: Convolution groups.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, groups: int = 1
    ):
        super().__init__()
        self.add_module(
            'c',
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False
            ),
        )
        self.add_module('bn', WholeSampleNorm(out_channels))


class ConvStem(nn.Module):
    """3x3/2, 3x3, 3x3/2 convolutions with GroupNorm and GELU, then LayerNorm (stride 4).

    Args:
        in_channels: Image channels.
        dims: Channels of the tokens.
    """

    def __init__(self, in_channels: int, dims: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            ConvGN(in_channels, dims, 3, 2),
            nn.GELU(),
            ConvGN(dims, dims, 3, 1),
            nn.GELU(),
            ConvGN(dims, dims, 3, 2),
        )
        self.norm = nn.LayerNorm(dims)

    def forward(self, x: Tensor) -> Tensor:
        """Embed ``x`` (B, C, H, W) into (B, ceil(H/4), ceil(W/4), C') tokens."""
        return self.norm(self.conv(x).permute(0, 2, 3, 1))


class ConvMerging(nn.Module):
    """1x1 -> depth-wise 3x3/2 -> 1x1 convolutions with GroupNorm (GELU between).

    Args:
        in_dims: Input channels.
        out_dims: Output channels.
    """

    def __init__(self, in_dims: int, out_dims: int) -> None:
        super().__init__()
        self.conv1 = ConvGN(in_dims, out_dims, 1)
        self.conv2 = ConvGN(out_dims, out_dims, 3, 2, groups=out_dims)
        self.conv3 = ConvGN(out_dims, out_dims, 1)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        """Merge ``x`` (B, H, W, C) into (B, ceil(H/2), ceil(W/2), C')."""
        x = self.act(self.conv1(x.permute(0, 3, 1, 2)))
        return self.conv3(self.act(self.conv2(x))).permute(0, 2, 3, 1)


# --------------------------------------------------------------------------- backbone
@MODELS.register_module()
class SGFormer(PyramidBackbone):
    """SG-Former pyramid backbone (strides 4, 8, 16, 32).

    Args:
        arch: ``'s'``, ``'m'``, ``'b'`` or a dict with ``embed_dims``, ``depths``,
            ``num_heads``, ``sr_ratios`` (8, 4, 2, 1 or a subset of those values)
            and ``mlp_ratios``.
        pretrain_img_size: The image size the position embedding is stored for.
        in_channels: Input image channels.
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`~.base.DenseBackbone` (the stem includes the
            position embedding).
        drop_path_rate: Stochastic depth, increasing linearly over the blocks.
        with_cp: Activation checkpointing per block.
        pretrained: Deprecated, see :class:`~.base.DenseBackbone`.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads an upstream
            checkpoint (``state_dict``; add ``use_ema=True`` for ``state_dict_ema``).
    """

    arch_keys = ('embed_dims', 'depths', 'num_heads', 'sr_ratios', 'mlp_ratios')
    per_stage_keys = arch_keys

    def __init__(
        self,
        arch: str | dict = 's',
        pretrain_img_size: int = 224,
        in_channels: int = 3,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        drop_path_rate: float = 0.1,
        with_cp: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(arch, out_indices, frozen_stages, False, pretrained, init_cfg)
        settings = self.arch_settings
        dims = list(settings['embed_dims'])
        bad = [r for r in settings['sr_ratios'] if r != 1 and r not in GROUPING]
        if bad:
            raise ValueError(
                f'SGFormer: sr_ratios must be in {sorted([1, *GROUPING])}, got {settings["sr_ratios"]}'
            )
        self.patch_embed = ConvStem(in_channels, dims[0])
        self.pos_grid = (pretrain_img_size // 4,) * 2
        self.pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1], dims[0]))
        dpr = self.stage_drop_paths(drop_path_rate, settings['depths'])
        self.stages = nn.ModuleList()
        for i, c in enumerate(dims):
            sr_ratio = settings['sr_ratios'][i]
            kinds = [
                'plain' if sr_ratio == 1 else ('guided' if j % 2 else 'hybrid') for j in range(len(dpr[i]))
            ]
            blocks = [
                SGBlock(c, settings['num_heads'][i], kind, sr_ratio, settings['mlp_ratios'][i], dp)
                for kind, dp in zip(kinds, dpr[i], strict=True)
            ]
            downsample = ConvMerging(dims[i - 1], c) if i else None
            self.stages.append(
                Stage(blocks, downsample, nn.LayerNorm(c, eps=1e-6), carry=True, with_cp=with_cp)
            )
        self.min_size = 4 * max(settings['sr_ratios'])
        self.declare_pyramid(dims, stem=('patch_embed', 'pos_embed'))

    def reset_parameters(self) -> None:
        """Upstream initialisation: ViT scheme, He-normal convolutions, sin-cos position embedding."""
        super().reset_parameters()
        self.init_convs_he_fan_out()
        for module in self.modules():
            if isinstance(module, nn.GroupNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.pos_embed.copy_(sincos_pos_embed_2d(self.pos_embed.shape[-1], *self.pos_grid))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Return the pyramid of ``x`` (B, C, H, W): NCHW maps for ``out_indices``."""
        self.check_input_size(x, self.min_size - 3)  # stage 1 keeps a key after its reduction
        x = self.patch_embed(x)  # B, H/4, W/4, C
        B, h, w, C = x.shape
        pos = resample_abs_pos_embed(
            self.pos_embed,
            (h, w),
            self.pos_grid,
            num_prefix_tokens=0,
            interpolation='bicubic',
            antialias=False,
        )
        x = x + pos.view(1, h, w, C)
        return self.forward_stages(x)

    def weights_hint(self, filename: str) -> str:
        """Upstream's ImageNet weights are on a Google Drive folder: where to get them."""
        return (
            f"SG-Former-{self.arch_name.upper()}'s ImageNet weights are upstream's release on the Google "
            'Drive folder linked from https://github.com/OliverRensu/SG-Former (README, ImageNet-1K); '
            f'download the file of that size and save it as {filename}, or train from scratch with '
            '--cfg-options model.backbone.init_cfg=None'
        )

    def convert_checkpoint(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map upstream SG-Former keys to this model (see :func:`convert_sgformer_checkpoint`)."""
        return convert_sgformer_checkpoint(state_dict)


# --------------------------------------------------------------------------- converter
def convert_sgformer_checkpoint(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename upstream SG-Former keys to vitdense keys.

    ``patch_embed1`` is the stem, ``patch_embed{2..4}`` the merging at the start of
    stages 2-4, ``block{i}.j`` the blocks, ``norm{i}`` the norm closing stage ``i``;
    ``mlp.dwconv.dwconv`` becomes ``ffn.dwconv``; in stage-4 (plain) attention the
    separate ``q`` and ``kv`` projections become one ``qkv``. Unknown keys pass
    unchanged so that the strict check reports them.

    Args:
        state_dict: Upstream tensors, classification-only keys removed.

    Returns:
        The renamed state dict.
    """
    return fuse_q_kv(rename_pvt_layout(state_dict))


# --------------------------------------------------------------------------- sizes
SGFormer.arch_zoo = {
    's': dict(
        embed_dims=(64, 128, 256, 512),
        depths=(2, 4, 16, 1),
        num_heads=(2, 4, 8, 16),
        sr_ratios=(8, 4, 2, 1),
        mlp_ratios=(4, 4, 4, 4),
    ),
    'm': dict(
        embed_dims=(64, 128, 256, 512),
        depths=(2, 6, 28, 2),
        num_heads=(2, 4, 8, 16),
        sr_ratios=(8, 4, 2, 1),
        mlp_ratios=(4, 4, 4, 4),
    ),
    'b': dict(
        embed_dims=(96, 192, 384, 768),
        depths=(4, 6, 24, 2),
        num_heads=(4, 6, 12, 24),
        sr_ratios=(8, 4, 2, 1),
        mlp_ratios=(4, 4, 4, 4),
    ),
}
