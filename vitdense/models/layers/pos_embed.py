"""Position tables: relative-position bias tables and their index, the 2-D sin-cos embedding.

Absolute embeddings are resized with timm's ``resample_abs_pos_embed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def resize_rel_pos_table(table: Tensor, dst_hw: Sequence[int]) -> Tensor:
    """Bicubically resize a relative-position bias table laid out as (L, heads).

    Args:
        table: ``(2h-1) * (2w-1)`` rows for a square source grid, one column per head.
        dst_hw: The (2H'-1, 2W'-1) extent wanted.

    Returns:
        The (2H'-1)*(2W'-1) x heads table.
    """
    side = round(table.shape[0] ** 0.5)
    if side * side != table.shape[0]:
        raise ValueError(f'relative position table of {table.shape[0]} rows is not square')
    if (side, side) == tuple(dst_hw):
        return table
    heads = table.shape[1]
    grid = table.t().reshape(1, heads, side, side)
    grid = F.interpolate(grid, size=tuple(dst_hw), mode='bicubic', align_corners=False)
    return grid.reshape(heads, -1).t()


def relative_position_index(H: int, W: int, device: torch.device | None = None) -> Tensor:
    """Index (H*W, H*W) into a (2H-1)*(2W-1) table for every pair of tokens of an H x W grid."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(H, device=device), torch.arange(W, device=device), indexing='ij')
    ).flatten(1)  # 2, N
    rel = coords[:, :, None] - coords[:, None, :]  # 2, N, N
    return (rel[0] + H - 1) * (2 * W - 1) + rel[1] + W - 1


def sincos_pos_embed_2d(dims: int, H: int, W: int) -> Tensor:
    """The fixed 2-D sine-cosine embedding of MAE / MoCo v3, as (1, H*W, dims).

    The first half of the channels encodes the column, the second the row; each
    half is ``[sin(p * w), cos(p * w)]`` with ``w = 10000^(-k / (dims/4))``.
    """
    if dims % 4:
        raise ValueError(f'sin-cos embedding needs dims divisible by 4, got {dims}')
    omega = 1.0 / 10000 ** (torch.arange(dims // 4, dtype=torch.float64) / (dims / 4))
    rows, cols = torch.meshgrid(
        torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing='ij'
    )
    halves = []
    for pos in (cols, rows):
        out = pos.reshape(-1, 1) * omega  # H*W, dims/4
        halves.append(torch.cat([out.sin(), out.cos()], dim=1))
    return torch.cat(halves, dim=1).float().unsqueeze(0)
