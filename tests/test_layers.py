"""The shared padding and window helpers."""

from __future__ import annotations

import torch

from vitdense.models.layers import pad_to_multiple, window_merge, window_partition


def test_pad_to_multiple_pads_bottom_right_only() -> None:
    x = torch.randn(2, 5, 7, 3)  # B, H, W, C
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (2, 8, 8, 3) and torch.equal(padded[:, :5, :7], x)
    assert padded[:, 5:].abs().sum() == 0 and padded[:, :, 7:].abs().sum() == 0
    nchw = pad_to_multiple(x.permute(0, 3, 1, 2), 4, channels_last=False)
    assert torch.equal(nchw, padded.permute(0, 3, 1, 2))
    assert pad_to_multiple(padded, 4) is padded


def test_window_partition_and_merge() -> None:
    B, Hp, Wp, heads, d, s = 2, 6, 9, 2, 4, 3
    x = torch.randn(B, Hp, Wp, 3 * heads * d)  # three projections, as in a qkv layer
    q, k, v = window_partition(x, s, heads, d)
    assert q.shape == (B * (Hp // s) * (Wp // s), heads, s * s, d)
    # the second window of the first image holds rows 0-2, columns 3-5 of the map
    expected = x[0, 0:3, 3:6, : heads * d].reshape(s * s, heads, d).transpose(0, 1)
    torch.testing.assert_close(q[1], expected)
    torch.testing.assert_close(window_merge(k, s, Hp, Wp), x[..., heads * d : 2 * heads * d])
