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


def _dwconv_gelu(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, residual: bool) -> torch.Tensor:
    """What the fused kernel computes, written with PyTorch's operators: x is (B, H, W, C)."""
    y = F.conv2d(x.permute(0, 3, 1, 2), w, b, padding=1, groups=x.shape[-1]).permute(0, 2, 3, 1)
    return F.gelu(x + y if residual else y)


# The fused depth-wise convolution + GELU against PyTorch on float64 inputs (its taps accumulate in
# float32), with rows per program of 1, 2, 4 and 32 on heights that leave partial row blocks, widths
# of partial 8-pixel blocks, a partial 16-channel block, a map of one pixel, and SG-Former's residual.
_FUSED_CHECK = """
import torch
from test_layers import _dwconv_gelu
from vitdense.models.layers import ffn
torch.manual_seed(0)
for rows in (1, 2, 4, 32):
    ffn._blocks = lambda H, C, rows=rows: (8, 16, rows, 1)
    for shape in [(2, 5, 7, 12), (1, 9, 20, 20), (3, 1, 1, 4), (1, 17, 3, 8)]:
        for residual in (False, True):
            x = torch.randn(shape, dtype=torch.float64)
            w = torch.randn(shape[-1], 1, 3, 3, dtype=torch.float64)
            b = torch.randn(shape[-1], dtype=torch.float64)
            out = ffn.dwconv3x3_gelu(x, w, b, residual)
            expected = _dwconv_gelu(x, w, b, residual)
            assert out.shape == shape and out.dtype == x.dtype and out.is_contiguous()
            torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
print('ok')
"""


def test_fused_dwconv_gelu_kernel_equals_pytorch_in_tritons_interpreter() -> None:
    """The Triton kernel itself, run by Triton's interpreter on CPU tensors (no GPU here)."""
    pytest.importorskip('triton')
    import os
    import subprocess
    import sys

    env = dict(os.environ, TRITON_INTERPRET='1')
    tests = os.path.dirname(os.path.abspath(__file__))  # _dwconv_gelu from this module, imported there
    result = subprocess.run(
        [sys.executable, '-c', _FUSED_CHECK], env=env, capture_output=True, text=True, cwd=tests
    )
    assert result.returncode == 0 and result.stdout.strip() == 'ok', result.stderr[-3000:]


def test_conv_ffn_exports_and_runs_on_the_cpu_as_convolution_and_gelu() -> None:
    """Off CUDA the ConvFFN is its reference path: an exported graph holds no custom operator."""
    from vitdense.models.layers import ConvFFN

    ffn = ConvFFN(8, 16).eval()
    targets = {str(n.target) for n in torch.export.export(ffn, (torch.randn(1, 5, 6, 8),)).graph.nodes}
    assert not any('vitdense' in t for t in targets)
    assert any('conv2d' in t for t in targets) and any('gelu' in t for t in targets)


def _ffn_ops_on_fake_cuda(
    ffn, dtype=torch.float32, grad=False, frozen=(), input_grad=False, dual=False
) -> dict:
    """The FLOPs per operator of ``ffn`` on fake CUDA tensors (no GPU needed), and thus the path it took."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.autograd import forward_ad
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    from vitdense.utils.analysis import _extra_flop_formulas

    with FakeTensorMode(allow_non_fake_inputs=True):
        params = {
            k: torch.empty(v.shape, device='cuda', dtype=dtype, requires_grad=not k.startswith(frozen))
            for k, v in ffn.named_parameters()
        }
        x = torch.empty(2, 5, 6, 8, device='cuda', dtype=dtype, requires_grad=input_grad)
        with (
            torch.set_grad_enabled(grad),
            forward_ad.dual_level(),
            FlopCounterMode(display=False, custom_mapping=_extra_flop_formulas()) as c,
        ):
            if dual:
                x = forward_ad.make_dual(x, torch.empty_like(x))
            out = functional_call(ffn, params, (x,))
        assert out.shape == x.shape and out.is_cuda
    return {str(op): n for op, n in c.get_flop_counts()['Global'].items()}


def test_conv_ffn_takes_the_fused_operator_when_no_gradient_flows_through_its_convolution(
    monkeypatch,
) -> None:
    """On (fake) CUDA: inference and fully frozen blocks take the kernel; a gradient to the input or to
    the convolution's parameters, float64, ``reference``, export and ``jit.trace`` take the modules."""
    pytest.importorskip('triton')
    from vitdense.models.layers import ConvFFN
    from vitdense.models.layers import ffn as ffn_module

    ffn = ConvFFN(8, 16)
    flops = 2 * 9 * 2 * 5 * 6 * 16  # the depth-wise convolution's, as FlopCounterMode counts a convolution
    assert _ffn_ops_on_fake_cuda(ffn) == {'aten.addmm': 30720, 'vitdense.dwconv3x3_gelu': flops}
    assert _ffn_ops_on_fake_cuda(ffn, grad=True) == {'aten.addmm': 30720, 'aten.convolution': flops}

    def path(**kwargs) -> str:
        ops = _ffn_ops_on_fake_cuda(ffn, **kwargs)
        assert ('aten.convolution' in ops) != ('vitdense.dwconv3x3_gelu' in ops)
        return 'fused' if 'vitdense.dwconv3x3_gelu' in ops else 'modules'

    assert path(grad=True, frozen=('fc', 'dwconv')) == 'fused'  # a frozen stage in a training step
    assert path(grad=True, frozen=('fc',)) == 'modules'  # only the convolution trains
    assert path(grad=True, frozen=('fc', 'dwconv'), input_grad=True) == 'modules'
    assert path(dtype=torch.float64) == 'modules'  # the kernel computes in fp32
    assert path(dtype=torch.bfloat16) == 'fused'
    assert path(dual=True) == 'modules'  # forward-mode AD
    ffn.act = torch.nn.GELU(approximate='tanh')  # a module swapped in
    assert path() == 'modules'
    ffn.act = torch.nn.GELU()
    ffn.reference = True
    assert path() == 'modules'
    ffn.reference = False
    for tracing in ('is_exporting', 'is_tracing'):  # torch.export, torch.jit.trace
        with monkeypatch.context() as m:
            m.setattr(ffn_module, tracing, lambda: True)
            assert path() == 'modules', tracing
    assert path() == 'fused'


def test_fused_operator_traced_with_symbolic_sizes_is_convolution_and_gelu_in_one_graph() -> None:
    """What inductor gets for the operator at a compiled detector's symbolic sizes: PyTorch's operators
    (no Triton kernel), one graph for every size, equal to the reference (run here on the CPU)."""
    pytest.importorskip('triton')
    from torch._dynamo.backends.common import aot_autograd

    graphs = []

    def forward_compiler(gm: torch.fx.GraphModule, example_inputs: list) -> torch.fx.GraphModule:
        graphs.append(gm)
        return gm

    torch._dynamo.reset()
    op = torch.compile(
        torch.ops.vitdense.dwconv3x3_gelu, backend=aot_autograd(fw_compiler=forward_compiler), dynamic=True
    )
    w, b = torch.randn(24, 1, 3, 3), torch.randn(24)
    cases = [((19, 23), False, None), ((40, 9), False, None), ((7, 33), False, None), ((9, 10), True, None)]
    cases += [((12, 10), False, torch.bfloat16), ((11, 13), False, torch.bfloat16)]  # fp32 weights, as AMP's
    for size, residual, dtype in cases:
        x = torch.randn(2, *size, 24, dtype=dtype)
        weights = (w, b) if dtype is None else (w.to(dtype), b.to(dtype))  # what autocast's convolution uses
        with torch.no_grad():
            torch.testing.assert_close(op(x, w, b, residual), _dwconv_gelu(x, *weights, residual))
    assert len(graphs) == 3  # one for each value of residual, and for bf16
    targets = {str(node.target) for gm in graphs for node in gm.graph.nodes}
    assert 'aten.convolution.default' in targets and not any('triton' in t for t in targets)


def test_torch_finds_the_fused_operators_kernel_for_its_compile_caches() -> None:
    """The caches of compiled graphs key on the kernels torch finds in a Triton operator's source: an
    edited kernel must not reuse code compiled from the old one."""
    pytest.importorskip('triton')
    from torch._library.triton import get_triton_kernels_for_op

    from vitdense.models.layers import ffn as ffn_module

    assert get_triton_kernels_for_op('vitdense::dwconv3x3_gelu') == [ffn_module._dwconv3x3_gelu_kernel]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='the fused kernel runs on CUDA')
@pytest.mark.parametrize('residual', [False, True])
def test_conv_ffn_on_cuda_fuses_inference_eager_and_compiled_and_trains_through_its_modules(
    residual, monkeypatch
) -> None:
    """Inference (fp32, bf16 autocast, compiled with CUDA graphs, and compiled with symbolic sizes in
    one graph) equals the reference path; a trainable convolution behind frozen layers gets gradients."""
    from torch._inductor.compile_fx import compile_fx

    from vitdense.models.layers import ConvFFN
    from vitdense.models.layers import ffn as ffn_module

    torch.manual_seed(0)
    ffn = ConvFFN(24, 160, residual=residual).cuda()  # 160 channels: a partial 128-channel block
    calls = []
    fused = ffn_module.dwconv3x3_gelu
    monkeypatch.setattr(ffn_module, 'dwconv3x3_gelu', lambda *a: calls.append(1) or fused(*a))
    graphs = []

    def inductor(gm, example_inputs):
        graphs.append(gm)
        return compile_fx(gm, example_inputs)

    def infer(module, x, dtype):
        with torch.no_grad(), torch.autocast('cuda', dtype=dtype or torch.float32, enabled=dtype is not None):
            return module(x).float()

    x = torch.randn(2, 19, 23, 24, device='cuda')  # partial 8-pixel blocks
    cudagraphs = torch.compile(ffn, fullgraph=True, mode='reduce-overhead')
    for module, dtype, tol in [
        (ffn, None, 1e-5),
        (ffn, torch.bfloat16, 2e-2),
        (cudagraphs, torch.bfloat16, 2e-2),
    ]:
        out = infer(module, x, dtype)
        ffn.reference = True
        expected = infer(ffn, x, dtype)
        ffn.reference = False
        torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
    assert len(calls) == 3  # eager twice, and once in the compiled call (dynamo replays the append)

    torch._dynamo.reset()  # the graphs below are this backend's alone
    symbolic = torch.compile(ffn, fullgraph=True, dynamic=True, backend=inductor)
    for size in [(19, 23), (40, 9), (7, 33)]:  # symbolic sizes: one graph
        x = torch.randn(2, *size, 24, device='cuda')
        ffn.reference = True
        expected = infer(ffn, x, None)
        ffn.reference = False
        torch.testing.assert_close(infer(symbolic, x, None), expected, atol=1e-5, rtol=1e-5)
    assert len(graphs) == 1

    calls.clear()
    ffn.fc1.requires_grad_(False)
    out = ffn(x)  # the input and fc1 need no gradient, the convolution does
    assert not calls and out.requires_grad
    out.square().sum().backward()
    assert ffn.dwconv.weight.grad is not None and ffn.dwconv.bias.grad is not None
