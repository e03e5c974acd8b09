"""One stage of a hierarchical backbone, shared by LITv2, LIT, SpectFormer and SG-Former."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from timm.layers import resample_abs_pos_embed
from torch import Tensor, nn

from .checkpoint import maybe_checkpoint


class Stage(nn.Module):
    """``downsample -> [+ position embedding] -> blocks -> [norm]`` on channels-last tokens.

    Args:
        blocks: The blocks, each mapping (B, H, W, C) to the same shape.
        downsample: The module that starts the stage (token merging), if any.
        norm: The norm that closes the stage, if any.
        pos_embed: (h, w, C) of an absolute position embedding added after the
            downsampling (``pos_embed``, (1, h*w, C)), stored for an h x w grid and
            resized bilinearly to the stage's grid; None for none.
        block_args: Computes extra arguments every block takes from the stage's
            input (e.g. a relative-position index), once per forward.
        carry: Blocks take and return ``(x, state)``, the state passed from one
            block to the next (SG-Former's significance map).
        with_cp: Activation checkpointing per block while training.
    """

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        downsample: nn.Module | None = None,
        norm: nn.Module | None = None,
        pos_embed: tuple[int, int, int] | None = None,
        block_args: Callable[[Tensor], tuple[Any, ...]] | None = None,
        carry: bool = False,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList(blocks)
        self.norm = norm
        self.pos_grid = pos_embed[:2] if pos_embed else None
        self.pos_embed = (
            nn.Parameter(torch.zeros(1, pos_embed[0] * pos_embed[1], pos_embed[2])) if pos_embed else None
        )
        self.block_args = block_args
        self.carry = carry
        self.with_cp = with_cp

    def forward(self, x: Tensor) -> Tensor:
        """Run the stage on ``x`` (B, H, W, C)."""
        if self.downsample is not None:
            x = self.downsample(x)
        B, H, W, C = x.shape
        if self.pos_embed is not None:
            pos = resample_abs_pos_embed(
                self.pos_embed,
                (H, W),
                self.pos_grid,
                num_prefix_tokens=0,
                interpolation='bilinear',
                antialias=False,
            )
            x = x + pos.view(1, H, W, C)
        extra = self.block_args(x) if self.block_args is not None else ()
        checkpoint = self.with_cp and self.training
        state = None
        for block in self.blocks:
            if self.carry:
                x, state = maybe_checkpoint(block, x, state, *extra, enabled=checkpoint)
            else:
                x = maybe_checkpoint(block, x, *extra, enabled=checkpoint)
        return self.norm(x) if self.norm is not None else x
