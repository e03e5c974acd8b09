"""Global multi-head self-attention on ``F.scaled_dot_product_attention``, and attention in small windows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tracing import is_exporting

#: Keys up to which compiled :func:`window_attention` is written out: HiLo's 2 x 2 windows, the size
#: measured (docs/benchmarks.md); larger windows (``local_ws`` 4) keep SDPA until measured.
SHORT_KEYS = 4


def window_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``F.scaled_dot_product_attention(q, k, v)`` for windows of a few tokens (HiLo's 2 x 2).

    Fused attention kernels tile queries and keys by tens of tokens, so on 4-token windows most of
    each tile is padding. Under ``torch.compile``, with at most :data:`SHORT_KEYS` keys, the
    products are written out as broadcast multiply-sums in float32 (logits, softmax and the
    weighted sum in float32: at least as precise as the fused kernels), which inductor fuses into
    memory-bound kernels. Other ``torch.compile`` backends (and strict ``torch.export``) run the
    products as written, materialising (..., N, M, d); eager keeps SDPA.

    Args:
        q: (..., N, d) queries, in the compute dtype: autocast does not apply to the written-out
            path (HiLo's projections already output in the autocast dtype).
        k: (..., M, d) keys.
        v: (..., M, d) values.

    Returns:
        (..., N, d) in ``v``'s dtype.
    """
    if not torch.compiler.is_dynamo_compiling() or k.shape[-2] > SHORT_KEYS:
        return F.scaled_dot_product_attention(q, k, v)
    scale = q.shape[-1] ** -0.5
    logits = (q.float()[..., :, None, :] * k.float()[..., None, :, :]).sum(-1) * scale  # ..., N, M
    return (logits.softmax(-1)[..., None] * v.float()[..., None, :, :]).sum(-2).to(v.dtype)


class GlobalAttention(nn.Module):
    """Multi-head self-attention over all tokens of a (B, N, C) sequence.

    The projection is one fused ``qkv`` linear whose output channels are ordered
    ``[q, k, v]`` x heads x head channels (timm / DeiT layout).

    Args:
        dims: Channels of the tokens.
        num_heads: Attention heads.
        qkv_bias: Whether the ``qkv`` projection has a bias.
    """

    def __init__(self, dims: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dims % num_heads:
            raise ValueError(f'attention: dims {dims} must be divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(dims, 3 * dims, bias=qkv_bias)
        self.proj = nn.Linear(dims, dims)

    def attend(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """Attention of ``x`` (B, N, C) before the output projection (heads concatenated)."""
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        if bias is not None and is_exporting():
            # written out for torch.export: the ONNX exporter's decomposition of attention with a
            # bias cannot reshape its output (pytorch/pytorch#136543); same function
            logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1) + bias.to(q.dtype)  # B, heads, N, N
            out = logits.softmax(-1) @ v
        else:
            if bias is not None:
                bias = bias.to(q.dtype).unsqueeze(0)  # 1, heads, N, N
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # B, heads, N, d
        return out.transpose(1, 2).reshape(B, N, C)

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """Attend over ``x`` (B, N, C), adding ``bias`` (heads, N, N) to the logits if given."""
        return self.proj(self.attend(x, bias))
