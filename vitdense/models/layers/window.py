"""Padding to a multiple, cropping back, and non-overlapping window partitioning of channels-last maps."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torch.fx.experimental.symbolic_shapes import statically_known_true


def pad_to_multiple(x: Tensor, multiple: int, channels_last: bool = True) -> Tensor:
    """Zero-pad the bottom and right of ``x`` so that its height and width are multiples of ``multiple``.

    Args:
        x: (B, H, W, C) when ``channels_last``, else (B, C, H, W).
        multiple: The side multiple.
        channels_last: Layout of ``x``.

    Returns:
        ``x`` itself when nothing needs padding, else the padded map. Under symbolic shapes
        (``torch.compile`` over varying sizes, ``torch.export``, dynamic ONNX export) the pad is
        always in the graph, with sizes that are zero where nothing needs padding, so one graph
        serves every input size.
    """
    H, W = x.shape[1:3] if channels_last else x.shape[-2:]
    # non-negative operands only: ONNX's integer Div truncates, Python's // floors
    pad_h = (H + multiple - 1) // multiple * multiple - H
    pad_w = (W + multiple - 1) // multiple * multiple - W
    return _pad_bottom_right(x, pad_h, pad_w, channels_last)


def crop_to(x: Tensor, height: int, width: int, channels_last: bool = True) -> Tensor:
    """Crop the bottom and right of a padded ``x`` back to ``height`` x ``width``, copying only if needed.

    A cropped view (``x[:, :H, :W]``) is contiguous or not depending on whether the map was padded.
    Traced over symbolic sizes by AOT autograd (inductor's ``torch.compile``, once sizes vary), that
    contiguity becomes a guard on the padding, and each case compiles a graph of its own. Padding by
    negative sizes makes a new tensor instead, with no guard.

    Args:
        x: (B, Hp, Wp, C) when ``channels_last``, else (..., Hp, Wp).
        height: Rows to keep, at most Hp (a larger value would zero-pad).
        width: Columns to keep, at most Wp (likewise).
        channels_last: Layout of ``x``.

    Returns:
        ``x`` itself where its sides are known to be ``height`` and ``width`` already, else a new
        tensor holding the crop.

    Raises:
        ValueError: If ``channels_last`` and ``x`` is not 4-D.
    """
    if channels_last and x.dim() != 4:
        raise ValueError(f'crop_to: a channels-last map is (B, H, W, C), got shape {tuple(x.shape)}')
    H, W = x.shape[1:3] if channels_last else x.shape[-2:]
    return _pad_bottom_right(x, height - H, width - W, channels_last)  # <= 0: removes rows and columns


def _pad_bottom_right(x: Tensor, rows: int, cols: int, channels_last: bool) -> Tensor:
    """``x`` with ``rows`` and ``cols`` zeros added (or, negative, removed) at the bottom and right.

    Returns ``x`` itself where both are known to be zero, without a guard on the sizes; under
    symbolic sizes the pad stays in the graph (zero where nothing changes), so one graph serves all.
    """
    if statically_known_true(rows == 0) and statically_known_true(cols == 0):  # never a guard on the size
        return x
    return F.pad(x, (0, 0, 0, cols, 0, rows) if channels_last else (0, cols, 0, rows))


def window_partition(x: Tensor, window: int, heads: int, head_dims: int) -> Tensor:
    """Split (B, Hp, Wp, n * heads * head_dims) into n per-window head tensors.

    Args:
        x: Channels-last map whose sides are multiples of ``window`` and whose channels
            hold ``n`` projections (e.g. q, k, v) of ``heads`` heads each.
        window: Window side.
        heads: Heads per projection.
        head_dims: Channels per head.

    Returns:
        (n, B * nW, heads, window * window, head_dims), windows in row-major order.
    """
    B, Hp, Wp, _ = x.shape
    hg, wg = Hp // window, Wp // window
    x = x.view(B, hg, window, wg, window, -1, heads, head_dims).permute(5, 0, 1, 3, 6, 2, 4, 7)
    return x.reshape(x.shape[0], B * hg * wg, heads, window * window, head_dims)


def window_merge(x: Tensor, window: int, height: int, width: int) -> Tensor:
    """Inverse of :func:`window_partition` for one tensor.

    Args:
        x: (B * nW, heads, window * window, head_dims).
        window: Window side.
        height: Padded height Hp of the map.
        width: Padded width Wp of the map.

    Returns:
        (B, Hp, Wp, heads * head_dims).
    """
    _, heads, _, d = x.shape
    hg, wg = height // window, width // window
    x = x.view(-1, hg, wg, heads, window, window, d).permute(0, 1, 4, 2, 5, 3, 6)
    return x.reshape(-1, height, width, heads * d)
