"""SG-Former: token reallocation at any size, batching, significance, checkpoint conversion."""

from __future__ import annotations

import pytest
import torch
from conftest import pvt_upstream_layout
from test_lit import read_keys

from vitdense.models.backbones import CheckpointMismatchError, SGFormer
from vitdense.models.backbones.sgformer import (
    HybridScaleAttention,
    SelfGuidedAttention,
    WholeSampleNorm,
    group_merge,
    received_attention,
)


def test_group_merge_is_upstreams_linear_when_groups_fit() -> None:
    tokens = torch.randn(2, 196 * 3, 8)
    linear = torch.nn.Linear(196, 1)
    expected = linear(tokens.permute(0, 2, 1).reshape(2, 8, 3, 196)).squeeze(-1).permute(0, 2, 1)
    torch.testing.assert_close(group_merge(tokens, linear.weight[0], linear.bias), expected)


@pytest.mark.parametrize('length,g', [(100, 28), (15, 56), (7, 2), (1, 1), (333, 7)])
def test_group_merge_keeps_the_weight_total_at_any_length(length, g) -> None:
    """Constant tokens merge to sum(weights) + bias in every group, whatever the group sizes."""
    weight, bias = torch.rand(g), torch.tensor([0.3])
    merged = group_merge(torch.ones(1, length, 4), weight, bias)
    assert merged.shape == (1, max(1, round(length / g)), 4)
    torch.testing.assert_close(merged, torch.full_like(merged, weight.sum().item() + 0.3))


def test_group_merge_of_a_bfloat16_model_weighs_tokens_as_float64_does() -> None:
    """A ``.bfloat16()`` model: token places times g (up to ~38k at 800 x 1216) must not round in bf16.

    Each token's weight is the gradient of the merged sum with respect to that token.
    """
    weight = torch.rand(196).bfloat16()
    per_token = []
    for dtype in (torch.bfloat16, torch.float64):
        tokens = torch.ones(1, 15200, 1, dtype=dtype, requires_grad=True)
        group_merge(tokens, weight.to(dtype), torch.zeros(1, dtype=dtype)).sum().backward()
        per_token.append(tokens.grad.double())
    torch.testing.assert_close(per_token[0], per_token[1], rtol=1e-2, atol=1e-2)


def test_group_merge_of_a_bfloat16_model_sums_groups_in_float32() -> None:
    """Group sums of ~200 bf16 tokens accumulate in float32: the result is float64's, rounded to bf16."""
    tokens, weight, bias = torch.randn(2, 15200, 8).bfloat16(), torch.rand(196).bfloat16(), torch.zeros(1)
    merged = group_merge(tokens, weight, bias.bfloat16())
    expected = group_merge(tokens.double(), weight.double(), bias.double())
    assert merged.dtype == torch.bfloat16
    torch.testing.assert_close(merged.double(), expected, rtol=1e-2, atol=1e-2)


def test_group_merge_covers_every_token_once() -> None:
    """Each token lands in exactly one group (one-hot tokens each contribute to one output)."""
    length, g = 50, 7
    weight = torch.ones(g)
    merged = group_merge(torch.eye(length)[None], weight, torch.zeros(1))  # 1, G, length
    assert (merged > 0).sum(1).eq(1).all()


@pytest.mark.parametrize('length,g', [(50, 7), (15, 56), (333, 28), (5, 2)])
def test_group_merge_integrates_the_weight_profile(length, g) -> None:
    """Values and weight gradients equal a per-group, per-token integration written out in float64."""
    tokens = torch.randn(2, length, 3, dtype=torch.float64)
    weight = torch.rand(g, dtype=torch.float64, requires_grad=True)
    bias = torch.rand(1, dtype=torch.float64)
    G = max(1, int(length / g + 0.5))
    starts = [-(-k * length // G) for k in range(G + 1)]  # ceil(k L / G)
    expected = []
    for j in range(G):
        m = starts[j + 1] - starts[j]
        total = bias.clone()
        for t in range(m):
            lo, hi = t * g / m, (t + 1) * g / m
            share = sum(weight[k] * max(0.0, min(hi, k + 1) - max(lo, k)) for k in range(g))
            total = total + share * tokens[:, starts[j] + t]
        expected.append(total)
    expected = torch.stack(expected, 1)  # 2, G, 3
    merged = group_merge(tokens, weight, bias)
    torch.testing.assert_close(merged, expected, rtol=1e-12, atol=1e-12)
    grad_out = torch.randn_like(expected)
    (got,) = torch.autograd.grad(merged, weight, grad_out)
    (want,) = torch.autograd.grad(expected, weight, grad_out)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('size', [(14, 14), (13, 17), (8, 8)])
def test_hybrid_attention_significance(size) -> None:
    attn = HybridScaleAttention(32, 4, sr_ratio=4)
    x = torch.randn(2, *size, 32)
    out, significance = attn(x)
    assert out.shape == (2, size[0] * size[1], 32) and significance.shape == (2, *size)
    assert torch.isfinite(significance).all() and (significance > 0).all()
    assert not significance.requires_grad


@pytest.mark.parametrize('size', [(14, 14), (13, 17)])
def test_fused_hybrid_attention_equals_the_materialised_map(size) -> None:
    """SDPA plus the no-grad significance give the reference path's outputs, gradients and significance."""
    torch.manual_seed(0)
    attn = HybridScaleAttention(32, 4, sr_ratio=4)
    x = torch.randn(2, *size, 32, requires_grad=True)
    results = []
    for reference in (True, False):
        attn.reference = reference
        out, significance = attn(x)
        out.square().sum().backward()
        grads = [x.grad.clone()] + [p.grad.clone() for p in attn.parameters()]
        x.grad = None
        attn.zero_grad()
        results.append((out.detach(), significance, grads))
    (ref, ref_sig, ref_grads), (out, sig, grads) = results
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    assert torch.equal(sig, ref_sig)  # the same sums: tokens sort the same way
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('channels_last', [False, True])
def test_whole_sample_norm_equals_group_norm(channels_last) -> None:
    """Outputs and gradients of input, weight and bias are group_norm's with one group (float64)."""
    torch.manual_seed(0)
    norm = WholeSampleNorm(6).double()
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(3, 6, 9, 11, dtype=torch.float64) * 3 + 2
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn(3, 6, 9, 11, dtype=torch.float64)
    results = []
    for reference in (True, False):
        norm.reference = reference
        norm.zero_grad()
        x_ = x.clone().requires_grad_()
        out = norm(x_)
        out.backward(grad)
        results.append([out.detach(), x_.grad, norm.weight.grad.clone(), norm.bias.grad.clone()])
    for ours, ref in zip(*results[::-1], strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    assert results[1][0].is_contiguous(memory_format=torch.channels_last) == channels_last
    assert set(norm.state_dict()) == {'weight', 'bias'}  # upstream's Conv2d_BN keys load as before


def test_whole_sample_norm_keeps_a_half_input_dtype_outside_autocast() -> None:
    """A model cast with ``.half()`` / ``.bfloat16()`` gets its dtype back, as from group_norm."""
    norm = WholeSampleNorm(6).bfloat16()
    x = torch.randn(2, 6, 5, 7).bfloat16()
    out = norm(x)
    norm.reference = True
    assert out.dtype == norm(x).dtype == torch.bfloat16
    torch.testing.assert_close(out, norm(x), rtol=1e-2, atol=1e-2)
    norm.reference = False
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert norm(x).dtype == torch.float32  # statistics and result in float32 under autocast


def test_received_attention_in_blocks_equals_one_block() -> None:
    q, k = torch.randn(2, 3, 500, 16), torch.randn(2, 3, 40, 16)
    whole = (q @ k.transpose(-2, -1) * 0.25).softmax(-1).mean(1).mean(1)
    assert torch.equal(received_attention(q, k, 0.25), whole)
    torch.testing.assert_close(received_attention(q, k, 0.25, budget=1000), whole)  # 125 blocks of 4 queries


def test_reallocation_is_batched_per_image() -> None:
    """A batch gives each image the result it gets alone (sorting and grouping are per image)."""
    attn = SelfGuidedAttention(32, 4, sr_ratio=8)
    x, significance = torch.randn(3, 17, 23, 32), torch.rand(3, 17, 23)
    batched = attn(x, significance)
    for i in range(3):
        torch.testing.assert_close(batched[i : i + 1], attn(x[i : i + 1], significance[i : i + 1]))


def test_significance_guides_the_merge() -> None:
    """Changing only the significance changes the keys and so the output."""
    attn = SelfGuidedAttention(32, 4, sr_ratio=4)
    x = torch.randn(1, 14, 14, 32)
    significance = torch.rand(1, 14, 14)
    assert not torch.allclose(attn(x, significance), attn(x, significance.flip(1)))


def test_too_small_input_raises_clearly() -> None:
    with pytest.raises(ValueError, match='at least 29x29'):
        SGFormer('s')(torch.randn(1, 3, 24, 64))


def upstream_layout(model: SGFormer) -> dict[str, torch.Tensor]:
    """``model`` in upstream's layout (``pos_embed`` at the top level), with its head."""
    state = pvt_upstream_layout(model)
    state['head.weight'], state['head.bias'] = torch.randn(1000, 512), torch.zeros(1000)
    return state


def test_upstream_layout_matches_the_key_list() -> None:
    ours = {k: tuple(v.shape) for k, v in upstream_layout(SGFormer('s')).items()}
    assert ours == read_keys('sgformer_s_upstream_keys.txt')


def test_upstream_checkpoint_loads_strictly_with_same_features(tmp_path) -> None:
    source = SGFormer('s', drop_path_rate=0.0).eval()
    source.init_weights()
    with torch.no_grad():
        for name, tensor in source.state_dict().items():
            if tensor.is_floating_point() and 'pos_embed' not in name:
                tensor.add_(torch.randn_like(tensor) * 0.02)
    path = tmp_path / 'sgformer_s.pth'
    ema = {k: v + 1 for k, v in upstream_layout(source).items()}
    torch.save(
        {'state_dict': {f'module.{k}': v for k, v in upstream_layout(source).items()}, 'state_dict_ema': ema},
        path,
    )
    target = SGFormer('s', init_cfg=dict(type='Pretrained', checkpoint=str(path))).eval()
    target.init_weights()
    x = torch.randn(1, 3, 112, 96)
    with torch.no_grad():
        for a, b in zip(source(x), target(x), strict=True):
            torch.testing.assert_close(a, b)
    target.load_pretrained(str(path), use_ema=True)
    torch.testing.assert_close(target.pos_embed, source.pos_embed + 1)


def test_checkpoint_of_another_size_lists_keys(tmp_path) -> None:
    path = tmp_path / 'sgformer_m.pth'
    torch.save({'state_dict': upstream_layout(SGFormer('m'))}, path)
    with pytest.raises(CheckpointMismatchError, match='unexpected'):
        SGFormer('s').load_pretrained(str(path))
