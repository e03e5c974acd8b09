"""Plain ViT with context broadcasting (CB / CBS / CBy), as a dense-prediction backbone.

Paper: Nam Hyeon-Woo, Kim Yu-Ji, Byeongho Heo, Dongyoon Han, Seong Joon Oh, Tae-Hyun
Oh. "Scratching Visual Transformer's Back with Uniform Attention." ICCV 2023.
https://arxiv.org/abs/2210.08457 (no public code; this is vitdense's implementation).

A DeiT-size ViT (patch 16, class token, absolute position embedding stored at the
ImageNet grid and resized to the input as timm does: bicubic, antialiased).

Context broadcasting mixes a branch's output ``y`` with its mean token,
``(1 - s) * y + s * mean(y)``, before the residual addition: at the end of the MLP
branch (``cb_position='mlp'``, the paper's best), of the attention branch, or both.
``s`` is 0.5 (CB) or a learned per-channel scale starting at 0.5 (CBS);
``cb_layers`` selects the blocks (``'deeper'``: the deeper half, CBy). The mean runs
over patch tokens only, not the class token, and skips the tokens that hold zero
padding when the input was padded to a multiple of 16.

The backbone returns the stride-16 maps of ``out_indices`` (default blocks 3, 5, 7,
11); :class:`~vitdense.models.necks.ViTPyramidNeck` turns them into strides 4-32.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from mmengine.registry import MODELS
from timm.layers import DropPath, Mlp, calculate_drop_path_rates, resample_abs_pos_embed
from torch import Tensor, nn

from ..layers import ContextBroadcast, GlobalAttention, PatchEmbed, maybe_checkpoint
from .base import StageSpec, UpstreamBackbone
from .weights import pretraining_hint


# --------------------------------------------------------------------------- blocks
class ViTBlock(nn.Module):
    """Pre-norm ViT block with optional context broadcasting on its branches.

    Args:
        dims: Channels.
        num_heads: Heads.
        mlp_ratio: MLP expansion.
        cb: ``'none'``, ``'cb'`` or ``'cbs'``.
        cb_position: ``'mlp'``, ``'attn'`` or ``'both'``.
        drop_path: Stochastic depth rate.
    """

    def __init__(
        self,
        dims: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        cb: str = 'none',
        cb_position: str = 'mlp',
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dims, eps=1e-6)
        self.attn = GlobalAttention(dims, num_heads)
        self.norm2 = nn.LayerNorm(dims, eps=1e-6)
        self.ffn = Mlp(dims, int(dims * mlp_ratio))
        learnable = cb == 'cbs'
        on = cb != 'none'
        self.cb_attn = ContextBroadcast(dims, learnable) if on and cb_position in ('attn', 'both') else None
        self.cb_mlp = ContextBroadcast(dims, learnable) if on and cb_position in ('mlp', 'both') else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    @staticmethod
    def _broadcast(cb: ContextBroadcast | None, y: Tensor, weights: Tensor) -> Tensor:
        if cb is None:
            return y
        return cb(y, torch.matmul(weights.to(y.dtype), y).unsqueeze(1))  # weighted mean: B, 1, C

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        """Apply the block to ``x`` (B, N, C); ``weights`` (N,) average the tokens for CB."""
        x = x + self.drop_path(self._broadcast(self.cb_attn, self.attn(self.norm1(x)), weights))
        return x + self.drop_path(self._broadcast(self.cb_mlp, self.ffn(self.norm2(x)), weights))


# --------------------------------------------------------------------------- backbone
@MODELS.register_module()
class CBViT(UpstreamBackbone):
    """Plain ViT backbone with context broadcasting; each "stage" is one block (stride 16).

    Args:
        arch: ``'ti'``, ``'s'``, ``'b'`` (DeiT sizes) or a dict with ``embed_dims``,
            ``depth`` and ``num_heads``.
        cb: ``'none'`` (plain ViT), ``'cb'`` or ``'cbs'``.
        cb_layers: Blocks with context broadcasting: None for all, ``'deeper'`` for
            the deeper half (CBy), or a list of block indices.
        cb_position: ``'mlp'`` (end of the MLP branch), ``'attn'`` or ``'both'``.
        patch_size: Patch side (the output stride).
        pretrain_img_size: Image size the position embedding is stored for.
        with_cls_token: Keep DeiT's class token in the sequence.
        out_type: ``'featmap'``: the NCHW maps of ``out_indices`` (dense prediction);
            ``'cls_token'``: DeiT's classifier input, the class token of the last
            block after a final LayerNorm (``norm``), as (B, C).
        in_channels: Input image channels.
        out_indices: Blocks whose outputs are returned (stride-16 maps).
        frozen_stages: -1 none; 0 the patch embedding, class token and position
            embedding; ``k`` those and the first ``k`` blocks.
        drop_path_rate: Stochastic depth, increasing linearly over the blocks.
        with_cp: Activation checkpointing per block.
        pretrained: Deprecated, see :class:`~.base.DenseBackbone`.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads a DeiT / timm
            ViT checkpoint (``deit_small_patch16_224`` layout, or the DeiT release
            wrapped in ``model``); CBS scales absent from it start at 0.5.
    """

    arch_keys = ('embed_dims', 'depth', 'num_heads')
    dropped_keys = (r'head\.', r'head_dist\.', r'norm\.', r'fc_norm\.', r'dist_token$')

    def __init__(
        self,
        arch: str | dict = 's',
        cb: str = 'none',
        cb_layers: str | Sequence[int] | None = None,
        cb_position: str = 'mlp',
        patch_size: int = 16,
        pretrain_img_size: int = 224,
        with_cls_token: bool = True,
        out_type: str = 'featmap',
        in_channels: int = 3,
        out_indices: Sequence[int] = (3, 5, 7, 11),
        frozen_stages: int = -1,
        drop_path_rate: float = 0.1,
        with_cp: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(arch, out_indices, frozen_stages, False, pretrained, init_cfg)
        if cb not in ('none', 'cb', 'cbs'):
            raise ValueError(f"CBViT: cb must be 'none', 'cb' or 'cbs', got {cb!r}")
        if cb_position not in ('mlp', 'attn', 'both'):
            raise ValueError(f"CBViT: cb_position must be 'mlp', 'attn' or 'both', got {cb_position!r}")
        depth, dims = self.num_stages, self.arch_settings['embed_dims']
        if cb_layers is None:
            layers = set(range(depth))
        elif cb_layers == 'deeper':
            layers = set(range(depth // 2, depth))
        elif isinstance(cb_layers, str) or not all(0 <= i < depth for i in cb_layers):
            raise ValueError(
                f"CBViT: cb_layers must be None, 'deeper' or block indices < {depth}, got {cb_layers}"
            )
        else:
            layers = set(cb_layers)
        self.cb = cb
        self.patch_size, self.with_cp = patch_size, with_cp
        self.num_extra = int(with_cls_token)
        self.patch_embed = PatchEmbed(in_channels, dims, patch_size, norm=False)
        self.pos_grid = (pretrain_img_size // patch_size,) * 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims)) if with_cls_token else None
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.num_extra + self.pos_grid[0] * self.pos_grid[1], dims)
        )
        dpr = calculate_drop_path_rates(drop_path_rate, depth)
        self.blocks = nn.ModuleList(
            ViTBlock(
                dims, self.arch_settings['num_heads'], 4.0, cb if i in layers else 'none', cb_position, dpr[i]
            )
            for i in range(depth)
        )
        if out_type not in ('featmap', 'cls_token') or (out_type == 'cls_token' and not with_cls_token):
            raise ValueError(
                f"CBViT: out_type must be 'featmap' or 'cls_token' (with the class token), got {out_type!r}"
            )
        self.out_type = out_type
        self.norm = nn.LayerNorm(dims, eps=1e-6) if out_type == 'cls_token' else None
        stem = ('patch_embed', 'pos_embed') + (('cls_token',) if with_cls_token else ())
        stages = [StageSpec(dims, patch_size, (f'blocks.{i}',)) for i in range(depth)]
        if self.norm is not None:
            stages[-1] = StageSpec(dims, patch_size, (f'blocks.{depth - 1}', 'norm'))
        self.declare_stages(stem, stages)

    @classmethod
    def count_stages(cls, settings: dict) -> int:
        """Every block is a stage."""
        return settings['depth']

    def reset_parameters(self) -> None:
        """DeiT initialisation: the ViT scheme, truncated-normal position embedding and class token."""
        super().reset_parameters()
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, ContextBroadcast) and module.scale is not None:
                nn.init.constant_(module.scale, 0.5)

    def _token_weights(self, H: int, W: int, h: int, w: int, device: torch.device) -> Tensor:
        """(num_extra + h*w,) weights averaging the patch tokens that hold no padding."""
        p = self.patch_size
        full_rows, full_cols = H // p or h, W // p or w  # smaller than one patch: use every token
        rows = torch.arange(h, device=device) < full_rows
        cols = torch.arange(w, device=device) < full_cols
        valid = (rows[:, None] & cols[None, :]).flatten().float()
        return torch.cat([valid.new_zeros(self.num_extra), valid / valid.sum()])

    @property
    def classifier_norm(self) -> str | None:
        """Where DeiT's final ``norm`` loads: this model's own, when it outputs the class token."""
        return 'norm' if self.norm is not None else None

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Return the stride-16 NCHW maps of ``out_indices`` for ``x`` (B, C, H, W), or the class token."""
        H, W = x.shape[-2:]
        x = self.patch_embed(x)  # B, h, w, C (padded to the patch size)
        B, h, w, C = x.shape
        pos = self.pos_embed
        x = x.reshape(B, h * w, C) + resample_abs_pos_embed(
            pos[:, self.num_extra :], (h, w), self.pos_grid, num_prefix_tokens=0
        )  # bicubic, antialiased: as timm's ViT
        if self.cls_token is not None:
            x = torch.cat([(self.cls_token + pos[:, :1]).expand(B, -1, -1), x], dim=1)
        weights = self._token_weights(H, W, h, w, x.device)
        outs = []
        for i, block in enumerate(self.blocks):
            x = maybe_checkpoint(block, x, weights, enabled=self.with_cp and self.training)
            if i in self.out_indices and self.norm is None:
                outs.append(x[:, self.num_extra :].transpose(1, 2).reshape(B, C, h, w).contiguous())
        if self.norm is not None:
            return (self.norm(x[:, 0]),)  # B, C
        return tuple(outs)

    def weights_hint(self, filename: str) -> str:
        """CB / CBS ViTs are pre-trained with context broadcasting: the config that makes the weights."""
        cb = '' if self.cb == 'none' else f'{self.cb}_'
        return pretraining_hint(f'configs/imagenet/cbvit_{cb}{self.arch_name}_in1k.py', filename)

    def is_new_key(self, key: str) -> bool:
        """CBS scales are not in ViT checkpoints (they start at 0.5)."""
        return re.fullmatch(r'blocks\.\d+\.cb_(attn|mlp)\.scale', key) is not None

    def convert_checkpoint(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map DeiT / timm ViT keys to this model (``mlp`` -> ``ffn``); fit the position embedding."""
        converted = {k.replace('.mlp.', '.ffn.'): v for k, v in state_dict.items()}
        pos = converted.get('pos_embed')
        if pos is not None:
            extra = pos.shape[1] - round((pos.shape[1] - self.num_extra) ** 0.5) ** 2
            grid = round((pos.shape[1] - extra) ** 0.5)
            tokens = resample_abs_pos_embed(pos[:, extra:], self.pos_grid, (grid, grid), num_prefix_tokens=0)
            converted['pos_embed'] = (
                torch.cat([pos[:, : self.num_extra], tokens], dim=1) if self.num_extra else tokens
            )
        return converted


# --------------------------------------------------------------------------- sizes
CBViT.arch_zoo = {
    'ti': dict(embed_dims=192, depth=12, num_heads=3),
    's': dict(embed_dims=384, depth=12, num_heads=6),
    'b': dict(embed_dims=768, depth=12, num_heads=12),
}
