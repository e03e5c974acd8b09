"""Deformable token merging (DTM): a deformable convolution whose taps do not overlap.

LIT and LITv2 downsample between stages with a 2x2 stride-2 deformable
convolution whose offsets are predicted by a plain convolution of the same
geometry, initialised to zero (so it starts as a patch-merging convolution).
Offsets follow the DCNv1 layout shared by mmcv, the upstream CUDA extension and
torchvision: channel ``2k`` is the y offset and ``2k + 1`` the x offset of
kernel tap ``k`` (row-major).

When the stride equals the kernel (no padding), every output's taps are its own:
sampling them bilinearly into a map of tiles (``grid_sample``) and convolving that
map at the kernel's stride (cuDNN, in the autocast dtype) is the deformable
convolution, forward and backward (whole-pixel taps included: see
:func:`grid_coordinate`). ``torchvision.ops.deform_conv2d`` (deformable im2col +
GEMM, run in fp32 under autocast) stays as the reference path and serves the other
geometries.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import deform_conv2d


def grid_coordinate(position: Tensor, size: int) -> Tensor:
    """``grid_sample``'s coordinate (no ``align_corners``) of a pixel position on a side of ``size`` pixels.

    Pixel ``p`` lies at ``(2p + 1) / size - 1``, which the dtype rounds, and ``grid_sample`` maps it back
    as ``((c + 1) * size - 1) / 2``, rounding again: at a whole pixel (every tap while the offsets are
    zero, as at initialisation) the result may fall just left of ``p``, so that its bilinear weights
    take the left neighbour and the position's gradient the left slope, where DCNv1 takes the right.
    Taking for ``c + 1`` the next multiple of twice the dtype's epsilon above the rounded
    ``(2p + 1) / size`` makes it exact (below ``p = 1.5 * size``) and larger than the true value, so the
    way back lands on ``p`` or a hair right of it: at most ``2 * eps * size`` pixels, with or without
    fused multiply-add (checked for every whole ``p`` from -2 to ``size + 1`` of sides up to 4096). The
    price: positions less than that below a whole pixel take its right-hand slope too. The gradient
    is that of ``(2p + 1) / size - 1``.

    Args:
        position: Pixel positions (fp32 or fp64).
        size: Side length in pixels.

    Returns:
        Normalised coordinates, the shape and dtype of ``position``.
    """
    step = 2 * torch.finfo(position.dtype).eps
    t = (2 * position + 1) / size  # the gradient's path: adding t - t (exactly 0) keeps the value
    return torch.floor(t.detach() / step) * step + (step - 1) + (t - t.detach())


def sample_taps(x: Tensor, offset: Tensor, kernel_size: int) -> Tensor:
    """Bilinear samples of ``x`` at the moved taps of a ``k x k``, stride-``k`` kernel, tiled per output.

    Samples follow DCNv1: a tap outside the map reads zeros, one within a pixel of it
    interpolates with zeros, one on a whole pixel takes the slope to its right neighbour (see
    :func:`grid_coordinate`). Positions and samples are fp32 at least, whatever the input dtype.

    Args:
        x: (B, C, H, W) input.
        offset: (B, 2 * k * k, Ho, Wo) offsets in the DCNv1 layout.
        kernel_size: ``k``, also the stride.

    Returns:
        (B, C, k * Ho, k * Wo), fp32 or fp64: the ``k x k`` tile ``(i, j)`` holds output ``(i, j)``'s
        samples, so a plain convolution of it at stride ``k`` gives the deformable convolution.
    """
    B, _, H, W = x.shape
    k = kernel_size
    Ho, Wo = offset.shape[-2:]
    dtype = torch.promote_types(offset.dtype, torch.float32)
    offset = offset.to(dtype).unflatten(1, (k, k, 2)).permute(0, 4, 1, 5, 2, 3)  # B, Ho, ky, Wo, kx, (dy, dx)
    rows = torch.arange(k * Ho, device=x.device, dtype=dtype).view(Ho, k, 1, 1)
    cols = torch.arange(k * Wo, device=x.device, dtype=dtype).view(1, 1, Wo, k)
    gx = grid_coordinate(offset[..., 1] + cols, W)  # B, Ho, ky, Wo, kx
    gy = grid_coordinate(offset[..., 0] + rows, H)
    grid = torch.stack((gx, gy), dim=-1).view(B, k * Ho, k * Wo, 2)
    return F.grid_sample(x.to(dtype), grid, mode='bilinear', padding_mode='zeros', align_corners=False)


class DeformConv2dPack(nn.Module):
    """Deformable convolution (v1) that predicts its own offsets.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel side.
        stride: Stride.
        padding: Zero padding.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        #: Whether the taps tile the input (stride == kernel, no padding): sample, then convolve.
        self.tiles = stride == kernel_size and padding == 0
        #: The reference path: ``torchvision.ops.deform_conv2d`` for every geometry.
        self.reference = False
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.conv_offset = nn.Conv2d(in_channels, 2 * kernel_size * kernel_size, kernel_size, stride, padding)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's conv initialisation for the weights, zeros for the offset branch."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.weight[0].numel())
        nn.init.uniform_(self.bias, -bound, bound)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Convolve ``x`` (B, C, H, W) at learned sampling locations."""
        offset = self.conv_offset(x)  # B, 2*k*k, H', W'
        if self.reference or not self.tiles:
            return deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding)
        taps = sample_taps(x, offset, self.stride).to(x.dtype)  # B, C, k*H', k*W'
        return F.conv2d(taps, self.weight, self.bias, stride=self.stride)


class DeformableTokenMerging(nn.Module):
    """Halve the resolution of channels-last tokens: deformable conv 2x2/2 -> BN -> GELU.

    An odd side is floored, as in upstream (``H' = H // 2``).

    Args:
        in_channels: Channels of the input tokens.
        out_channels: Channels of the merged tokens.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = DeformConv2dPack(in_channels, out_channels, kernel_size=2, stride=2)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        """Merge ``x`` (B, H, W, C) into (B, H // 2, W // 2, C')."""
        x = self.conv(x.permute(0, 3, 1, 2))  # B, C', H/2, W/2
        return self.act(self.norm(x)).permute(0, 2, 3, 1)
