"""The feed-forward network with a depth-wise 3x3 convolution (the plain MLP is timm's ``Mlp``)."""

from __future__ import annotations

import math

from torch import Tensor, nn


class ConvFFN(nn.Module):
    """``fc1 -> depth-wise conv 3x3 -> GELU -> fc2`` on channels-last tokens.

    Args:
        dims: Input and output channels.
        hidden_dims: Channels of the hidden layer.
        residual: Add the convolution's input back before the GELU
            (``GELU(h + dwconv(h))``, SG-Former's variant).
    """

    def __init__(self, dims: int, hidden_dims: int, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.fc1 = nn.Linear(dims, hidden_dims)
        self.dwconv = nn.Conv2d(hidden_dims, hidden_dims, 3, padding=1, groups=hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, dims)

    def reset_parameters(self) -> None:
        """Upstream initialisation: truncated normal linears, He-normal depth-wise conv."""
        for fc in (self.fc1, self.fc2):
            nn.init.trunc_normal_(fc.weight, std=0.02)
            nn.init.zeros_(fc.bias)
        fan_out = self.dwconv.kernel_size[0] * self.dwconv.kernel_size[1]  # out / groups == 1
        nn.init.normal_(self.dwconv.weight, 0.0, math.sqrt(2.0 / fan_out))
        nn.init.zeros_(self.dwconv.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the FFN to ``x`` (B, H, W, C)."""
        h = self.fc1(x)  # B, H, W, hidden
        # The NCHW view of a channels-last tensor keeps its memory layout, so the
        # depth-wise convolution runs in channels-last without copies.
        x = self.dwconv(h.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.fc2(self.act(h + x if self.residual else x))
