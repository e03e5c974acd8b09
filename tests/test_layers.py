"""The shared padding and window helpers, and attention in small windows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import traced

from vitdense.models.layers import crop_to, pad_to_multiple, window_attention, window_merge, window_partition


def test_crop_to_undoes_the_padding_as_a_new_tensor_and_checks_the_layout() -> None:
    x = torch.randn(2, 5, 7, 3, requires_grad=True)  # B, H, W, C
    padded = pad_to_multiple(x, 4)  # 2, 8, 8, 3
    crop = crop_to(padded, 5, 7)
    assert torch.equal(crop, x) and crop.is_contiguous()
    crop.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    assert crop_to(x, 5, 7) is x  # nothing to crop: no copy
    maps = padded[..., 0]  # B, Hp, Wp: the sides last
    assert torch.equal(crop_to(maps, 5, 7, channels_last=False), x[..., 0])
    with pytest.raises(ValueError, match='channels-last map'):
        crop_to(maps, 5, 7)


def test_crop_to_adds_no_graph_where_a_cropped_view_would() -> None:
    """Over symbolic sizes, a crop of a padded map is one graph, padded or not (a view would be two)."""
    layer = torch.nn.Linear(3, 3)

    def padded_and_cropped(x: torch.Tensor) -> torch.Tensor:  # B, H, W, C
        H, W = x.shape[1:3]
        return torch.cat([crop_to(layer(pad_to_multiple(x, 2)), H, W), x], dim=-1)

    compiled, graphs = traced(padded_and_cropped, aot=True)
    with torch.no_grad():
        for size in [(20, 18), (22, 20), (21, 19), (24, 17)]:  # odd sides need padding
            x = torch.randn(1, *size, 3)
            torch.testing.assert_close(compiled(x), padded_and_cropped(x))
    assert len(graphs) == 2  # the first size's, then one with both sizes symbolic


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


@pytest.mark.parametrize('keys', [4, 5, 16])
def test_window_attention_is_sdpa_eager_and_compiled(keys) -> None:
    """Written out under compile up to SHORT_KEYS (4) keys, SDPA above; the same function either way."""
    q, k, v = torch.randn(3, 2, 5, 8), torch.randn(3, 2, keys, 8), torch.randn(3, 2, keys, 8)
    expected = F.scaled_dot_product_attention(q, k, v)
    assert torch.equal(window_attention(q, k, v), expected)
    compiled_attention, graphs = traced(window_attention, fullgraph=True)
    try:
        compiled = compiled_attention(q, k, v)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(compiled, expected, atol=1e-6, rtol=1e-5)
    called = [str(n.target) for n in graphs[0].graph.nodes if n.op == 'call_function']
    assert any('scaled_dot_product_attention' in c for c in called) == (keys > 4), called


def test_window_attention_keeps_the_dtype_and_float32_softmax_under_autocast() -> None:
    q, k, v = (torch.randn(4, 2, 4, 8).bfloat16() for _ in range(3))
    compiled = torch.compile(window_attention, backend='eager', fullgraph=True)
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = compiled(q, k, v)
    finally:
        torch._dynamo.reset()
    assert out.dtype == torch.bfloat16
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float())  # float32 logits, softmax
    torch.testing.assert_close(out.float(), expected, atol=1e-5, rtol=2**-8)
