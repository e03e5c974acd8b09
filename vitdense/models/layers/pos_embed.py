"""Resizing of position tables (absolute embeddings, relative-position bias tables)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def resize_pos_embed(
    pos_embed: Tensor,
    src_hw: Sequence[int],
    dst_hw: Sequence[int],
    mode: str = 'bilinear',
    antialias: bool = False,
) -> Tensor:
    """Resize an absolute position embedding laid out as (1, H*W, C).

    Args:
        pos_embed: The table, row-major over an ``src_hw`` grid.
        src_hw: (H, W) of that grid.
        dst_hw: (H, W) wanted.
        mode: ``F.interpolate`` mode (``align_corners=False``).
        antialias: ``F.interpolate``'s antialias (timm's ViTs resize with it on).

    Returns:
        The (1, H'*W', C) table; ``pos_embed`` itself when the sizes agree.
    """
    if tuple(src_hw) == tuple(dst_hw):
        return pos_embed
    C = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, *src_hw, C).permute(0, 3, 1, 2)  # 1, C, H, W
    grid = F.interpolate(grid, size=tuple(dst_hw), mode=mode, align_corners=False, antialias=antialias)
    return grid.flatten(2).transpose(1, 2)


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
