"""Hierarchical SpectFormer: spectral gating then attention, as a dense backbone.

Paper: Badri N. Patro, Vinay P. Namboodiri, Vijay S. Agneeswaran. "SpectFormer:
Frequency and Attention is what you need in a Vision Transformer." WACV 2025.
https://arxiv.org/abs/2304.06446
Upstream: https://github.com/badripatro/SpectFormers
(``hierarchical_architecture/spectformer.py``, classification only).

Layout: a convolutional stem (7x7/2, two 3x3, 3x3/2, LayerNorm; stride 4), then four
stages, stages 2-4 starting with a 3x3/2 convolution + LayerNorm. Each block is
``x + mixer(norm1(x))`` then ``x + ConvFFN(norm2(x))`` where the mixer is spectral gating
(stages 1-2 by default) or global multi-head attention (stages 3-4). Each stage
ends with a LayerNorm, whose output is both the stage's feature map and the next
stage's input (stage 4's norm normalises the class token upstream; here its
spatial tokens).

Spectral gating multiplies the 2-D real FFT (``norm='ortho'``) of the tokens by a
learned complex filter and transforms back. It runs in float32 under autocast and
casts the result back to the input dtype. The filters are stored at their ImageNet
size (a ``224 / stride`` grid: 56 x 29 bins in stage 1, 28 x 15 in stage 2) and are
resampled in the frequency domain to each input: the filter is treated as a function
of normalised frequency (cycles per token), periodic along the full-spectrum axis
and one-sided along the half-spectrum axis, and sampled bilinearly at the target
grid's frequencies (``k / H``, ``k / W``). At the ImageNet grid this is the identity,
so the backbone equals upstream there; at other sizes it keeps the filter's
frequency response, where upstream cannot run at all.

Export: ONNX Runtime cannot run the ONNX ``DFT`` of a graph exported with dynamic height
and width. Under ``torch.export`` with symbolic sizes (``SpectralGating.dft_as_matmul``
forces it anywhere) the same filter is computed as matrix products with cosine / sine
bases built from the input's size (:func:`spectral_filter_matmul`): one graph for every
size, equal to the FFT path within float32 rounding (tested) while float32 matrix products
run in full precision, torch's default (TF32, ``torch.backends.cuda.matmul.allow_tf32``,
rounds their inputs to 10 mantissa bits).

Compile: ``torch.compile`` (``--compile``) takes the matrix-product path at every size. torch
2.11's inductor fails on the FFT path (on the complex64 product on CUDA, on the FFT's strides
on the CPU, and on the FFT behind a graph break); the product path compiles into one graph
with the rest of the block, and at a detector's size it trained faster than the FFT kept whole
as one custom operator, in one run (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from timm.layers import DropPath, Mlp
from torch import Tensor, nn

from ..layers import ConvFFN, GlobalAttention, Stage, maybe_checkpoint
from .base import PyramidBackbone
from .weights import fuse_q_kv, pretraining_hint, rename_pvt_layout


# --------------------------------------------------------------------------- blocks
def _lerp_axis(x: Tensor, dim: int, positions: Tensor, periodic: bool) -> Tensor:
    """Linear interpolation of ``x`` along ``dim`` at fractional ``positions``."""
    size = x.shape[dim]
    low = positions.floor()
    frac = (positions - low).to(x.dtype)
    low = low.long()
    high = low + 1
    if periodic:
        low, high = low % size, high % size
    else:
        low, high = low.clamp(max=size - 1), high.clamp(max=size - 1)
    shape = [1] * x.dim()
    shape[dim] = -1
    frac = frac.view(shape)
    return x.index_select(dim, low) * (1 - frac) + x.index_select(dim, high) * frac


def resample_spectral_filter(weight: Tensor, w: int, H: int, W: int) -> Tensor:
    """Resample a filter stored as (h, w//2+1, C, 2) real/imag to the ``rfft2`` grid of H x W.

    See the module docstring: bins are matched by normalised frequency; the first
    axis (full spectrum, FFT order) is periodic, the second (non-negative half) is not.
    A grid with the stored number of bins uses the filter as it is, as upstream does.

    Args:
        weight: The stored filter; its first axis is ``h``.
        w: Width of the grid it is stored for.
        H: Height of the input grid.
        W: Width of the input grid.

    Returns:
        The (H, W//2+1, C, 2) filter.
    """
    h, bins = weight.shape[:2]
    if isinstance(H, int) and isinstance(W, int) and h == H and bins == W // 2 + 1:
        return weight  # (under symbolic sizes the sampling below is the identity at this grid)
    device = weight.device
    rows = torch.arange(H, device=device, dtype=torch.float32) * (h / H)
    cols = torch.arange(W // 2 + 1, device=device, dtype=torch.float32) * (w / W)
    weight = _lerp_axis(weight, 0, rows, periodic=True)
    return _lerp_axis(weight, 1, cols, periodic=False)


def _dft_basis(n: int, bins: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """(bins, n) cosines and sines of ``2 pi k t / n`` (phase reduced mod ``n`` in integers)."""
    k = torch.arange(bins, device=device)
    t = torch.arange(n, device=device)
    period = torch.ones((), dtype=torch.long, device=device) * n  # a tensor: exports with a symbolic n
    angle = torch.remainder(k[:, None] * t[None, :], period).float() * (2 * math.pi) / n
    return angle.cos(), angle.sin()


def spectral_filter_matmul(x: Tensor, weight: Tensor) -> Tensor:
    """``irfft2(rfft2(x) * weight)`` (``norm='ortho'``) over dims 1, 2 as real matrix products.

    The real DFT along the width keeps its ``W // 2 + 1`` bins, the height gets a full complex
    DFT; the inverse counts each inner bin twice and the first and (even ``W``) last bin once,
    as ``irfft`` does, whose dropped imaginary parts meet a zero sine here.

    Args:
        x: (B, H, W, C) float32 tokens.
        weight: (H, W // 2 + 1, C, 2) real and imaginary parts of the filter.

    Returns:
        (B, H, W, C) filtered tokens.
    """
    _, H, W, _ = x.shape
    bins = W // 2 + 1
    cos_w, sin_w = _dft_basis(W, bins, x.device)  # bins, W
    cos_h, sin_h = _dft_basis(H, H, x.device)  # H, H (symmetric)
    real = torch.einsum('bhwc,lw->bhlc', x, cos_w)  # B, H, bins, C
    imag = -torch.einsum('bhwc,lw->bhlc', x, sin_w)
    f_real = torch.einsum('kh,bhlc->bklc', cos_h, real) + torch.einsum('kh,bhlc->bklc', sin_h, imag)
    f_imag = torch.einsum('kh,bhlc->bklc', cos_h, imag) - torch.einsum('kh,bhlc->bklc', sin_h, real)
    w_real, w_imag = weight[..., 0], weight[..., 1]  # H, bins, C
    y_real = f_real * w_real - f_imag * w_imag
    y_imag = f_real * w_imag + f_imag * w_real
    z_real = torch.einsum('kh,bklc->bhlc', cos_h, y_real) - torch.einsum('kh,bklc->bhlc', sin_h, y_imag)
    z_imag = torch.einsum('kh,bklc->bhlc', cos_h, y_imag) + torch.einsum('kh,bklc->bhlc', sin_h, y_real)
    k = torch.arange(bins, device=x.device)
    twice = (2 - (k == 0).float() - (2 * k == W).float())[:, None]  # bins, 1
    out = torch.einsum('bhlc,lw->bhwc', z_real * twice, cos_w) - torch.einsum(
        'bhlc,lw->bhwc', z_imag * twice, sin_w
    )
    return out / (H * W)


class SpectralGating(nn.Module):
    """Global filter in the 2-D Fourier domain of channels-last tokens.

    Args:
        dims: Channels.
        filter_hw: (h, w) grid the filter is stored for; it holds h x (w//2+1) bins.

    Attributes:
        dft_as_matmul: Compute the transforms with :func:`spectral_filter_matmul` instead of
            ``torch.fft``. Off by default; ``torch.compile`` and ``torch.export`` with symbolic sizes
            take that path anyway (see the module docstring).
    """

    dft_as_matmul: bool = False

    def __init__(self, dims: int, filter_hw: tuple[int, int]) -> None:
        super().__init__()
        h, self.filter_w = filter_hw
        self.complex_weight = nn.Parameter(torch.randn(h, self.filter_w // 2 + 1, dims, 2) * 0.02)

    def forward(self, x: Tensor) -> Tensor:
        """Filter ``x`` (B, H, W, C); computed in float32, returned in ``x``'s dtype."""
        _, H, W, _ = x.shape
        symbolic = not (isinstance(H, int) and isinstance(W, int))
        with torch.autocast(device_type=x.device.type, enabled=False):
            weight = resample_spectral_filter(self.complex_weight.float(), self.filter_w, H, W)
            if self.dft_as_matmul or symbolic or torch.compiler.is_dynamo_compiling():
                return spectral_filter_matmul(x.float(), weight).to(x.dtype)
            freq = torch.fft.rfft2(x.float(), dim=(1, 2), norm='ortho')  # B, H, W//2+1, C
            out = torch.fft.irfft2(
                freq * torch.view_as_complex(weight.contiguous()), s=(H, W), dim=(1, 2), norm='ortho'
            )
        return out.to(x.dtype)


class SpectFormerBlock(nn.Module):
    """``x + mixer(norm1(x))``, ``x + ConvFFN(norm2(x))`` with a spectral or attention mixer.

    Args:
        dims: Channels.
        num_heads: Heads (attention mixer).
        mlp_ratio: FFN expansion.
        spectral: Spectral gating instead of attention.
        filter_hw: Filter grid (spectral mixer).
        drop_path: Stochastic depth rate.
    """

    def __init__(
        self,
        dims: int,
        num_heads: int,
        mlp_ratio: float,
        spectral: bool,
        filter_hw: tuple[int, int],
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.spectral = spectral
        self.norm1 = nn.LayerNorm(dims, eps=1e-6)
        self.attn = SpectralGating(dims, filter_hw) if spectral else GlobalAttention(dims, num_heads)
        self.norm2 = nn.LayerNorm(dims, eps=1e-6)
        self.ffn = ConvFFN(dims, int(dims * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to ``x`` (B, H, W, C)."""
        if self.spectral:
            mixed = self.attn(self.norm1(x))
        else:
            B, H, W, C = x.shape
            mixed = self.attn(self.norm1(x).reshape(B, H * W, C)).view(B, H, W, C)
        x = x + self.drop_path(mixed)
        return x + self.drop_path(self.ffn(self.norm2(x)))


class ConvStem(nn.Module):
    """7x7/2 conv, two 3x3 convs (BN, ReLU), a 3x3/2 projection and a LayerNorm (stride 4).

    Args:
        in_channels: Image channels.
        hidden_dims: Channels of the three BN-ReLU convolutions.
        out_dims: Channels of the tokens.
    """

    def __init__(self, in_channels: int, hidden_dims: int, out_dims: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (k, s) in enumerate(((7, 2), (3, 1), (3, 1))):
            layers += [
                nn.Conv2d(in_channels if i == 0 else hidden_dims, hidden_dims, k, s, k // 2, bias=False),
                nn.BatchNorm2d(hidden_dims),
                nn.ReLU(inplace=True),
            ]
        self.conv = nn.Sequential(*layers)
        self.proj = nn.Conv2d(hidden_dims, out_dims, 3, 2, 1)
        self.norm = nn.LayerNorm(out_dims)

    def forward(self, x: Tensor) -> Tensor:
        """Embed ``x`` (B, C, H, W) into (B, ceil(H/4), ceil(W/4), C') tokens."""
        return self.norm(self.proj(self.conv(x)).permute(0, 2, 3, 1))


class ConvDownsample(nn.Module):
    """3x3/2 convolution + LayerNorm on channels-last tokens (``ceil`` halving).

    Args:
        in_dims: Input channels.
        out_dims: Output channels.
    """

    def __init__(self, in_dims: int, out_dims: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dims, out_dims, 3, 2, 1)
        self.norm = nn.LayerNorm(out_dims)

    def forward(self, x: Tensor) -> Tensor:
        """Downsample ``x`` (B, H, W, C)."""
        return self.norm(self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class ClassAttention(nn.Module):
    """The class token (first of the sequence) attends to every token (upstream's ``ClassAttention``).

    Args:
        dims: Channels.
        num_heads: Heads.
    """

    def __init__(self, dims: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dims, dims)
        self.kv = nn.Linear(dims, 2 * dims)
        self.proj = nn.Linear(dims, dims)

    def forward(self, x: Tensor) -> Tensor:
        """Attend from ``x[:, :1]`` to ``x`` (B, N, C); returns (B, 1, C)."""
        B, N, C = x.shape
        d = C // self.num_heads
        q = self.q(x[:, :1]).view(B, 1, self.num_heads, d).transpose(1, 2)  # B, heads, 1, d
        k, v = self.kv(x).view(B, N, 2, self.num_heads, d).permute(2, 0, 3, 1, 4)  # B, heads, N, d
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, 1, C))


class ClassBlock(nn.Module):
    """Pre-norm class attention and MLP updating the class token only (upstream's ``ClassBlock``).

    Args:
        dims: Channels.
        num_heads: Heads.
        mlp_ratio: MLP expansion.
    """

    def __init__(self, dims: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dims, eps=1e-6)
        self.attn = ClassAttention(dims, num_heads)
        self.norm2 = nn.LayerNorm(dims, eps=1e-6)
        self.mlp = Mlp(dims, int(dims * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """Update the class token of ``x`` (B, 1 + N, C)."""
        cls_token = x[:, :1] + self.attn(self.norm1(x))
        cls_token = cls_token + self.mlp(self.norm2(cls_token))
        return torch.cat([cls_token, x[:, 1:]], dim=1)


# --------------------------------------------------------------------------- backbone
@MODELS.register_module()
class SpectFormer(PyramidBackbone):
    """Hierarchical SpectFormer pyramid backbone (strides 4, 8, 16, 32).

    Args:
        arch: ``'h-s'``, ``'h-b'``, ``'h-l'`` or a dict with ``stem_dims``,
            ``embed_dims``, ``depths``, ``num_heads`` and ``mlp_ratios``.
        spectral_stages: How many leading stages use spectral gating (upstream:
            2; 4 gives an all-spectral, GFNet-like network; 0 all attention).
        spectral_blocks: Instead of ``spectral_stages``, how many leading blocks
            (counted over the whole network) use spectral gating (the paper's
            alpha).
        filter_img_size: The image size the spectral filters are stored for.
        out_type: ``'featmap'``: the NCHW maps of ``out_indices``. ``'cls_token'``
            (``out_indices=(3,)``): upstream's classifier input: a class token (the mean of
            stage 4's tokens) updated by a class-attention block (``post_network``), then stage
            4's closing norm, returned as (B, C).
        in_channels: Input image channels.
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`~.base.DenseBackbone`.
        norm_eval: BatchNorms of the stem in eval mode while training.
        drop_path_rate: Stochastic depth, increasing linearly over the blocks.
        with_cp: Activation checkpointing per block.
        pretrained: Deprecated, see :class:`~.base.DenseBackbone`.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads an upstream
            classification checkpoint (upstream has released none).
    """

    arch_keys = ('stem_dims', 'embed_dims', 'depths', 'num_heads', 'mlp_ratios')
    per_stage_keys = ('embed_dims', 'depths', 'num_heads', 'mlp_ratios')
    dropped_keys = (r'head\.', r'aux_head\.', r'post_network\.')

    def __init__(
        self,
        arch: str | dict = 'h-s',
        spectral_stages: int = 2,
        spectral_blocks: int | None = None,
        filter_img_size: int = 224,
        out_type: str = 'featmap',
        in_channels: int = 3,
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
        dims, depths = list(settings['embed_dims']), settings['depths']
        if not 0 <= spectral_stages <= self.num_stages:
            raise ValueError(f'SpectFormer: spectral_stages must be in [0, 4], got {spectral_stages}')
        starts = [sum(depths[:i]) for i in range(self.num_stages)]
        if spectral_blocks is None:
            spectral_blocks = sum(depths[:spectral_stages])
        elif not 0 <= spectral_blocks <= sum(depths):
            raise ValueError(
                f'SpectFormer: spectral_blocks must be in [0, {sum(depths)}], got {spectral_blocks}'
            )
        self.patch_embed = ConvStem(in_channels, settings['stem_dims'], dims[0])
        dpr = self.stage_drop_paths(drop_path_rate, depths)
        self.stages = nn.ModuleList()
        for i, c in enumerate(dims):
            grid = filter_img_size // (4 * 2**i)
            blocks = [
                SpectFormerBlock(
                    c,
                    settings['num_heads'][i],
                    settings['mlp_ratios'][i],
                    starts[i] + j < spectral_blocks,
                    (grid, grid),
                    dp,
                )
                for j, dp in enumerate(dpr[i])
            ]
            downsample = ConvDownsample(dims[i - 1], c) if i else None
            self.stages.append(Stage(blocks, downsample, nn.LayerNorm(c, eps=1e-6), with_cp=with_cp))
        if out_type not in ('featmap', 'cls_token') or (out_type == 'cls_token' and self.out_indices != (3,)):
            raise ValueError(
                "SpectFormer: out_type must be 'featmap', or 'cls_token' with out_indices=(3,); "
                f'got {out_type!r}'
            )
        self.post_network = None
        self._compiled_class_tokens: Callable[[SpectFormer, Tensor], tuple[Tensor, Tensor]] | None = None
        if out_type == 'cls_token':
            self.post_network = nn.ModuleList(
                [ClassBlock(dims[-1], settings['num_heads'][-1], settings['mlp_ratios'][-1])]
            )
        self.declare_pyramid(dims, last=('post_network',) if self.post_network is not None else ())

    def reset_parameters(self) -> None:
        """Upstream initialisation: the ViT scheme, He-normal (fan-out) convolutions."""
        super().reset_parameters()
        self.init_convs_he_fan_out()
        for module in self.modules():
            if isinstance(module, SpectralGating):
                nn.init.normal_(module.complex_weight, std=0.02)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Return the pyramid of ``x`` (B, C, H, W): NCHW maps for ``out_indices``, or the class token."""
        if self.post_network is None:
            return self.forward_stages(self.patch_embed(x))
        return (self.forward_class_tokens(self.patch_embed(x))[0],)

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """``nn.Module.compile``; with a class token, also the stem and ``forward_class_tokens``.

        Token labeling (:class:`~vitdense.models.token_label.TokenLabelClassifier`) calls those two
        on their own, mixing the stem's output between them, so compiling ``forward`` alone would
        leave its training eager. Called from the compiled ``forward``, they are traced into its
        graph. The state-dict keys stay; a pickled or deep-copied backbone comes back uncompiled, as
        ``nn.Module`` does with its own compiled call (``__getstate__``).

        Args:
            *args: ``torch.compile``'s.
            **kwargs: ``torch.compile``'s.
        """
        super().compile(*args, **kwargs)
        if self.post_network is not None:
            self.patch_embed.compile(*args, **kwargs)
            self._compiled_class_tokens = torch.compile(type(self)._class_tokens, *args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        """``nn.Module``'s state, without the compiled class-token function (see ``compile``)."""
        state = super().__getstate__()
        state['_compiled_class_tokens'] = None
        return state

    def forward_class_tokens(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Upstream's classifier features (``out_type='cls_token'``) from the stem's output.

        Args:
            x: ``patch_embed``'s output (B, H, W, C); token labeling mixes it first.

        Returns:
            The class token (B, C) (the mean of stage 4's tokens after the class-attention block)
            and stage 4's tokens (B, h, w, C), both after stage 4's closing norm.
        """
        return (self._compiled_class_tokens or type(self)._class_tokens)(self, x)

    def _class_tokens(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``forward_class_tokens``'s computation (compiled by ``compile``)."""
        for stage in self.stages[:-1]:
            x = stage(x)
        last = self.stages[-1]
        x = last.downsample(x)
        for block in last.blocks:
            x = maybe_checkpoint(block, x, enabled=last.with_cp and self.training)
        tokens = x.flatten(1, 2)  # B, N, C
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
        for block in self.post_network:
            tokens = block(tokens)
        tokens = last.norm(tokens)
        return tokens[:, 0], tokens[:, 1:].unflatten(1, x.shape[1:3])

    def weights_hint(self, filename: str) -> str:
        """Upstream released no weights: the pre-training configs that make them (token labels or not)."""
        return pretraining_hint(
            f'configs/imagenet/spectformer_{self.arch_name}_tl_in1k.py',
            filename,
            alternative=f'without token-label maps: configs/imagenet/spectformer_{self.arch_name}_in1k.py',
        )

    def convert_checkpoint(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map upstream SpectFormer keys to this model (see :func:`convert_spectformer_checkpoint`)."""
        return convert_spectformer_checkpoint(state_dict)


# --------------------------------------------------------------------------- converter
def convert_spectformer_checkpoint(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename upstream SpectFormer keys to vitdense keys.

    ``patch_embed1`` is the stem, ``patch_embed{2..4}`` the downsampling at the start
    of stages 2-4, ``block{i}.j`` the blocks, ``norm{i}`` the norm closing stage ``i``.
    The separate ``attn.q`` and ``attn.kv`` projections become one ``attn.qkv``
    (rows ``[q; k; v]``); ``mlp.dwconv.dwconv`` becomes ``ffn.dwconv``. Unknown keys
    pass unchanged so that the strict check reports them.

    Args:
        state_dict: Upstream tensors, classification-only keys removed.

    Returns:
        The renamed state dict.
    """
    return fuse_q_kv(rename_pvt_layout(state_dict))


# --------------------------------------------------------------------------- sizes
SpectFormer.arch_zoo = {
    'h-s': dict(
        stem_dims=32,
        embed_dims=(64, 128, 320, 448),
        depths=(3, 4, 6, 3),
        num_heads=(2, 4, 10, 14),
        mlp_ratios=(8, 8, 4, 4),
    ),
    'h-b': dict(
        stem_dims=64,
        embed_dims=(64, 128, 320, 512),
        depths=(3, 4, 12, 3),
        num_heads=(2, 4, 10, 16),
        mlp_ratios=(8, 8, 4, 4),
    ),
    'h-l': dict(
        stem_dims=64,
        embed_dims=(96, 192, 384, 512),
        depths=(3, 6, 18, 3),
        num_heads=(3, 6, 12, 16),
        mlp_ratios=(8, 8, 4, 4),
    ),
}
