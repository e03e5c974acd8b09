"""Deformable token merging (DTM) on ``torchvision.ops.deform_conv2d``.

LIT and LITv2 downsample between stages with a 2x2 stride-2 deformable
convolution whose offsets are predicted by a plain convolution of the same
geometry, initialised to zero (so it starts as a patch-merging convolution).
Offsets follow the DCNv1 layout shared by mmcv, the upstream CUDA extension and
torchvision: channel ``2k`` is the y offset and ``2k + 1`` the x offset of
kernel tap ``k`` (row-major).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import deform_conv2d


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
        return deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding)


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
