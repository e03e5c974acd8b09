"""The feed-forward network with a depth-wise 3x3 convolution (the plain MLP is timm's ``Mlp``).

In inference on CUDA the convolution, its bias and the GELU run as one Triton kernel on the
channels-last hidden map (:func:`dwconv3x3_gelu`). The hidden map is the FFN's widest tensor:
the module's depth-wise convolution (cuDNN) and its GELU, the reference path, read and write it
twice; the kernel once. Under ``torch.compile`` the kernel is a ``torch.library`` custom operator,
which inductor launches from its own code and CUDA graphs replay. It has no backward: whatever
needs a gradient through the FFN's convolution, the CPU, and traced or exported graphs take the
reference path; graphs compiled with a symbolic height or width (a compiled detector's, after its
first size) run PyTorch's convolution and GELU too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd import forward_ad
from torch.jit import is_tracing
from torch.library import wrap_triton
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from .tracing import is_exporting

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - torch ships Triton with its CUDA wheels on Linux
    triton = None


if triton is not None:

    @triton.jit
    def _dwconv3x3_gelu_kernel(
        x_ptr,
        w_ptr,
        b_ptr,
        y_ptr,
        H,
        W,
        C,
        RESIDUAL: tl.constexpr,
        ROWS: tl.constexpr,
        BLOCK_W: tl.constexpr,
        BLOCK_C: tl.constexpr,
        STAGES: tl.constexpr,
    ):
        """``GELU(dwconv(x) + b [+ x])`` on ``ROWS`` rows of ``BLOCK_W`` pixels x ``BLOCK_C`` channels.

        Each input row is read once (three column shifts, mostly from the cache) and adds its
        three kernel rows' products to the output rows below, at and above it; an output row is
        stored once its last input row is in. ``STAGES`` rows' loads are in flight at once.
        """
        blocks_h = tl.cdiv(H, ROWS)
        image = tl.program_id(0) // blocks_h
        h0 = (tl.program_id(0) % blocks_h) * ROWS
        cols = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
        chans = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
        in_c = chans < C
        offsets = cols[:, None] * C + chans[None, :]
        left = ((cols >= 1) & (cols <= W))[:, None] & in_c[None, :]  # column shifts -1, 0, +1 inside the map
        centre = (cols < W)[:, None] & in_c[None, :]
        right = (cols + 1 < W)[:, None] & in_c[None, :]
        wp = w_ptr + chans * 9
        w00 = tl.load(wp + 0, mask=in_c, other=0.0).to(tl.float32)[None, :]  # w[dy, dx]
        w01 = tl.load(wp + 1, mask=in_c, other=0.0).to(tl.float32)[None, :]
        w02 = tl.load(wp + 2, mask=in_c, other=0.0).to(tl.float32)[None, :]
        w10 = tl.load(wp + 3, mask=in_c, other=0.0).to(tl.float32)[None, :]
        w11 = tl.load(wp + 4, mask=in_c, other=0.0).to(tl.float32)[None, :]
        w12 = tl.load(wp + 5, mask=in_c, other=0.0).to(tl.float32)[None, :]
        w20 = tl.load(wp + 6, mask=in_c, other=0.0).to(tl.float32)[None, :]
        w21 = tl.load(wp + 7, mask=in_c, other=0.0).to(tl.float32)[None, :]
        w22 = tl.load(wp + 8, mask=in_c, other=0.0).to(tl.float32)[None, :]
        bias = tl.load(b_ptr + chans, mask=in_c, other=0.0).to(tl.float32)[None, :]
        above = tl.zeros((BLOCK_W, BLOCK_C), dtype=tl.float32)  # output row r - 1 so far (fp32, as cuDNN)
        here = tl.zeros((BLOCK_W, BLOCK_C), dtype=tl.float32)  # output row r so far
        for i in tl.range(ROWS + 2, num_stages=STAGES):  # input rows h0 - 1 ... h0 + ROWS
            r = h0 - 1 + i
            start = (image * H + r).to(tl.int64) * W * C
            in_h = (r >= 0) & (r < H)  # rows outside the map read zeros
            t0 = tl.load(x_ptr + start - C + offsets, mask=left & in_h, other=0.0).to(tl.float32)
            t1 = tl.load(x_ptr + start + offsets, mask=centre & in_h, other=0.0).to(tl.float32)
            t2 = tl.load(x_ptr + start + C + offsets, mask=right & in_h, other=0.0).to(tl.float32)
            below = t0 * w00 + t1 * w01 + t2 * w02  # output row r + 1
            here += t0 * w10 + t1 * w11 + t2 * w12
            if RESIDUAL:
                here += t1
            above += t0 * w20 + t1 * w21 + t2 * w22
            if (r - 1 >= h0) & (r - 1 < H):  # output row r - 1 is complete
                pre = above + bias
                y = 0.5 * pre * (1.0 + tl.erf(pre * 0.7071067811865476))  # exact GELU, as nn.GELU()
                tl.store(y_ptr + start - W * C + offsets, y.to(y_ptr.dtype.element_ty), mask=centre)
            above = here
            here = below

    def _blocks(H: int, C: int) -> tuple[int, int, int, int]:
        """Pixels per row, channels, rows and pipeline stages of a program (timed on an H200)."""
        return 8, min(128, triton.next_power_of_2(C)), min(32, triton.next_power_of_2(H)), 3

    def _fused(x: Tensor, weight: Tensor, bias: Tensor, residual: bool, kernel: Any) -> Tensor:
        """Launch ``kernel`` on ``x``: see :func:`dwconv3x3_gelu`.

        Args:
            x: (B, H, W, C) input.
            weight: (C, 1, 3, 3) depth-wise kernels.
            bias: (C,) biases.
            residual: Add ``x`` to the convolution before the GELU.
            kernel: The Triton kernel, or it wrapped by ``wrap_triton`` for tracing.

        Returns:
            (B, H, W, C) contiguous, ``x``'s dtype.
        """
        B, H, W, C = x.shape
        x = x.contiguous()
        y = torch.empty_like(x)
        block_w, block_c, rows, stages = _blocks(H, C)
        grid = (B * triton.cdiv(H, rows), triton.cdiv(W, block_w), triton.cdiv(C, block_c))
        kernel[grid](
            x,
            weight.contiguous(),
            bias.contiguous(),
            y,
            H,
            W,
            C,
            residual,
            ROWS=rows,
            BLOCK_W=block_w,
            BLOCK_C=block_c,
            STAGES=stages,
            num_warps=4,
        )
        return y

    @torch.library.triton_op('vitdense::dwconv3x3_gelu', mutates_args=())
    def _dwconv3x3_gelu_op(x: Tensor, weight: Tensor, bias: Tensor, residual: bool) -> Tensor:
        """The operator ``torch.compile`` traces, inductor launching the kernel from its own code.

        Traced with a symbolic height or width (a compiled detector's sizes), it is cuDNN's
        convolution and the GELU in ``x``'s dtype (as under autocast) instead, which serve every size
        with one graph (on an H200, a ConvFFN compiled with ``dynamic=True`` with the kernel in its
        graph made a graph for each of three sizes; why was not found).

        Args and returns: see :func:`dwconv3x3_gelu`.
        """
        if not (isinstance(x.shape[1], int) and isinstance(x.shape[2], int)):
            y = F.conv2d(
                x.permute(0, 3, 1, 2), weight.to(x.dtype), bias.to(x.dtype), padding=1, groups=x.shape[-1]
            )
            y = y.permute(0, 2, 3, 1)  # B, H, W, C
            return F.gelu(x + y if residual else y).contiguous()
        # wrap_triton written here lets torch find the kernel in this source (its compile caches key on it).
        # Under Triton's interpreter (TRITON_INTERPRET=1, the tests' CPU runs) it refuses the kernel, which
        # is then only launched directly.
        return _fused(x, weight, bias, residual, wrap_triton(_dwconv3x3_gelu_kernel))

    @_dwconv3x3_gelu_op.register_kernel('cuda')
    def _launch_eagerly(x: Tensor, weight: Tensor, bias: Tensor, residual: bool) -> Tensor:
        """The kernel launched on ``x``'s device, not the current one (a CPU tensor: no device switch).

        Also the operator's CUDA implementation, run eagerly under a dispatch mode.
        """
        with torch.cuda.device_of(x):
            return _fused(x, weight, bias, residual, _dwconv3x3_gelu_kernel)

    def dwconv3x3_gelu(x: Tensor, weight: Tensor, bias: Tensor, residual: bool) -> Tensor:
        """``GELU(dwconv3x3(x) + bias [+ x])`` on a channels-last map in one pass (a Triton kernel).

        Equal to ``GELU(conv2d(x, weight, bias, padding=1, groups=C) [+ x])`` within rounding: the
        taps accumulate in fp32 with the weights in their own dtype, and the pre-activation is not
        rounded to ``x``'s dtype. It has no backward, and exists where Triton is installed. Under
        ``torch.compile`` or a dispatch mode (fake tensors, FLOP counting) it is the custom operator
        ``vitdense::dwconv3x3_gelu``; otherwise the kernel is launched directly, which costs the host
        less than the operator's dispatch.

        Args:
            x: (B, H, W, C) input, fp32, fp16 or bf16 (the output's dtype).
            weight: (C, 1, 3, 3) depth-wise kernels.
            bias: (C,) biases.
            residual: Add ``x`` to the convolution before the GELU.

        Returns:
            (B, H, W, C) contiguous, ``x``'s dtype.
        """
        if torch.compiler.is_compiling() or is_in_torch_dispatch_mode():
            # Tracing, fake tensors and FLOP counting see the operator; a direct launch would bypass them.
            return _dwconv3x3_gelu_op(x, weight, bias, residual)
        return _launch_eagerly(x, weight, bias, residual)


_FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class ConvFFN(nn.Module):
    """``fc1 -> depth-wise conv 3x3 -> GELU -> fc2`` on channels-last tokens.

    The convolution and the GELU run as one Triton kernel (:func:`dwconv3x3_gelu`) on CUDA in fp32,
    fp16 or bf16 when nothing needs a gradient (or a forward-mode tangent) through the convolution,
    nothing traces or exports the module, and ``dwconv`` and ``act`` are the modules built here;
    otherwise, or with ``reference = True``, those modules run (so their hooks run only then). A graph
    compiled with a symbolic height or width runs PyTorch's convolution and GELU there too.

    Args:
        dims: Input and output channels.
        hidden_dims: Channels of the hidden layer.
        residual: Add the convolution's input back before the GELU
            (``GELU(h + dwconv(h))``, SG-Former's variant).
    """

    def __init__(self, dims: int, hidden_dims: int, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.fc1 = nn.Linear(dims, hidden_dims)
        self.dwconv = nn.Conv2d(hidden_dims, hidden_dims, 3, padding=1, groups=hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, dims)
        #: The reference path: cuDNN's depth-wise convolution, then the GELU, also on CUDA.
        self.reference = False

    def reset_parameters(self) -> None:
        """Upstream initialisation: truncated normal linears, He-normal depth-wise conv."""
        for fc in (self.fc1, self.fc2):
            nn.init.trunc_normal_(fc.weight, std=0.02)
            nn.init.zeros_(fc.bias)
        fan_out = self.dwconv.kernel_size[0] * self.dwconv.kernel_size[1]  # out / groups == 1
        nn.init.normal_(self.dwconv.weight, 0.0, math.sqrt(2.0 / fan_out))
        nn.init.zeros_(self.dwconv.bias)

    def fused(self, h: Tensor) -> bool:
        """Whether the hidden map ``h`` (B, H, W, C) takes the fused kernel."""
        if triton is None or not h.is_cuda or h.dtype not in _FUSED_DTYPES or self.reference:
            return False
        if (
            type(self.dwconv) is not nn.Conv2d
            or type(self.act) is not nn.GELU
            or self.act.approximate != 'none'
        ):
            return False  # modules swapped (quantisation, another GELU): the kernel would ignore them
        if torch.is_grad_enabled() and (
            h.requires_grad or any(p.requires_grad for p in self.dwconv.parameters())
        ):
            return False  # a gradient flows through the convolution: the kernel has no backward
        if forward_ad.unpack_dual(h).tangent is not None:
            return False  # forward-mode AD: the kernel has no tangent
        return not (is_exporting() or is_tracing())  # a direct launch would be missing from the graph

    def forward(self, x: Tensor) -> Tensor:
        """Apply the FFN to ``x`` (B, H, W, C)."""
        h = self.fc1(x)  # B, H, W, hidden
        if self.fused(h):
            return self.fc2(dwconv3x3_gelu(h, self.dwconv.weight, self.dwconv.bias, self.residual))
        # The NCHW view of a channels-last tensor keeps its memory layout, so the depth-wise
        # convolution runs in channels-last without copies.
        y = self.dwconv(h.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.fc2(self.act(h + y if self.residual else y))
