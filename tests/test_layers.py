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


# The fused depth-wise convolution + GELU against the reference path on float64 inputs (its taps
# accumulate in float32), with rows per program of 1, 2, 4 and 32 on heights that leave partial row
# blocks, widths of partial 8-pixel blocks, a partial 16-channel block (the kernel's channel block
# follows C up to 128), a map of one pixel, and SG-Former's residual.
_FUSED_CHECK = """
import torch
from vitdense.models.layers import ffn
torch.manual_seed(0)
for rows in (1, 2, 4, 32):
    ffn._blocks = lambda H, W, C, rows=rows: (8, 16, rows, 1)
    for shape in [(2, 5, 7, 12), (1, 9, 20, 20), (3, 1, 1, 4), (1, 17, 3, 8)]:
        for residual in (False, True):
            x = torch.randn(shape, dtype=torch.float64)
            w = torch.randn(shape[-1], 1, 3, 3, dtype=torch.float64)
            b = torch.randn(shape[-1], dtype=torch.float64)
            out = ffn.dwconv3x3_gelu(x, w, b, residual)
            expected = ffn._dwconv3x3_gelu_reference(x, w, b, residual)
            assert out.shape == shape and out.dtype == x.dtype and out.is_contiguous()
            torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
print('ok')
"""


def test_fused_dwconv_gelu_kernel_equals_the_reference_in_tritons_interpreter() -> None:
    """The Triton kernel itself, run by Triton's interpreter on CPU tensors (no GPU here)."""
    pytest.importorskip('triton')
    import os
    import subprocess
    import sys

    env = dict(os.environ, TRITON_INTERPRET='1')
    result = subprocess.run([sys.executable, '-c', _FUSED_CHECK], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == 'ok', result.stderr[-3000:]


def test_conv_ffn_exports_and_runs_on_the_cpu_as_convolution_and_gelu() -> None:
    """Off CUDA the ConvFFN is its reference path: an exported graph holds no custom operator."""
    from vitdense.models.layers import ConvFFN

    ffn = ConvFFN(8, 16).eval()
    targets = {str(n.target) for n in torch.export.export(ffn, (torch.randn(1, 5, 6, 8),)).graph.nodes}
    assert not any('vitdense' in t for t in targets)
    assert any('conv2d' in t for t in targets) and any('gelu' in t for t in targets)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='the fused kernel runs on CUDA')
@pytest.mark.parametrize('residual', [False, True])
def test_conv_ffn_on_cuda_fuses_inference_eager_and_compiled_and_trains_on_cudnn(
    residual, monkeypatch
) -> None:
    """Inference (fp32, bf16 autocast, compiled with CUDA graphs) equals the reference path; training
    never reaches the fused kernel (it has no backward) and its gradients are the reference path's."""
    from vitdense.models.layers import ConvFFN
    from vitdense.models.layers import ffn as ffn_module

    torch.manual_seed(0)
    ffn = ConvFFN(24, 160, residual=residual).cuda()  # 160 channels: a partial 128-channel block
    x = torch.randn(2, 19, 23, 24, device='cuda')  # partial 8-pixel blocks
    calls = []
    fused = ffn_module.dwconv3x3_gelu
    monkeypatch.setattr(ffn_module, 'dwconv3x3_gelu', lambda *a: calls.append(1) or fused(*a))

    def infer(module, dtype):
        with torch.no_grad(), torch.autocast('cuda', dtype=dtype or torch.float32, enabled=dtype is not None):
            return module(x).float()

    compiled = torch.compile(ffn, fullgraph=True, mode='reduce-overhead')
    for module, dtype, tol in [
        (ffn, None, 1e-5),
        (ffn, torch.bfloat16, 2e-2),
        (compiled, torch.bfloat16, 2e-2),
    ]:
        out = infer(module, dtype)
        ffn.reference = True
        expected = infer(ffn, dtype)
        ffn.reference = False
        torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
    assert len(calls) == 3  # eager twice, and traced once by the compiled call

    calls.clear()
    xg = x.clone().requires_grad_()
    grads = torch.autograd.grad(ffn(xg).square().sum(), (xg, *ffn.parameters()))
    assert not calls
    ffn.reference = True
    expected = torch.autograd.grad(ffn(xg).square().sum(), (xg, *ffn.parameters()))
    for grad, grad_expected in zip(grads, expected, strict=True):
        torch.testing.assert_close(grad, grad_expected)


def test_conv_ffn_on_fake_cuda_tensors_calls_the_operator_and_counts_its_flops_as_the_convolutions() -> None:
    """Under a dispatch mode (here fake CUDA tensors and FLOP counting, no GPU needed) the fused path is
    the custom operator, which the modes see: the FLOPs equal the reference path's (a direct launch
    would bypass the counter, as it did in benchmark.py's first H200 records of the kernel)."""
    pytest.importorskip('triton')
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    from vitdense.models.layers import ConvFFN
    from vitdense.utils.analysis import _extra_flop_formulas

    ffn = ConvFFN(8, 16).eval()
    counts = {}
    with FakeTensorMode(allow_non_fake_inputs=True):
        params = {k: torch.empty(v.shape, device='cuda') for k, v in ffn.named_parameters()}
        x = torch.empty(2, 5, 6, 8, device='cuda')
        for reference in (False, True):
            ffn.reference = reference
            with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_extra_flop_formulas()) as c:
                out = functional_call(ffn, params, (x,))
            assert out.shape == x.shape and out.is_cuda
            counts[reference] = {str(op): n for op, n in c.get_flop_counts()['Global'].items()}
    assert counts[False] == {'aten.addmm': 30720, 'vitdense.dwconv3x3_gelu': 2 * 9 * 2 * 5 * 6 * 16}
    assert counts[True] == {'aten.addmm': 30720, 'aten.convolution': 2 * 9 * 2 * 5 * 6 * 16}
