"""Context broadcasting (CB / CBS): mix every token with the mean token.

Paper: Nam Hyeon-Woo, Kim Yu-Ji, Byeongho Heo, Dongyoon Han, Seong Joon Oh, Tae-Hyun
Oh. "Scratching Visual Transformer's Back with Uniform Attention." ICCV 2023.
https://arxiv.org/abs/2210.08457

``x <- (1 - s) * x + s * mean(x)`` over tokens, with ``s = 0.5`` fixed (CB, no
parameters) or a learned per-channel ``s`` starting at 0.5 (CBS, ``dims``
parameters). ``s = 0`` is the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ContextBroadcast(nn.Module):
    """Mix tokens with their mean (see the module docstring).

    Args:
        dims: Channels of the tokens.
        learnable: CBS (a learned per-channel scale) instead of CB (0.5).
    """

    def __init__(self, dims: int, learnable: bool = False) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((dims,), 0.5)) if learnable else None

    def forward(self, x: Tensor, mean: Tensor | None = None) -> Tensor:
        """Mix ``x`` (B, ..., C) with ``mean`` (B, 1, ..., 1, C; default: over all tokens)."""
        if mean is None:
            mean = x.mean(dim=tuple(range(1, x.dim() - 1)), keepdim=True)
        scale = 0.5 if self.scale is None else self.scale.to(x.dtype)
        return torch.lerp(x, mean.to(x.dtype).expand_as(x), scale)  # one fused pass
