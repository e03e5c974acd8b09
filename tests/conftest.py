"""Shared fixtures: the registered vitdense backbones and small helpers."""

from __future__ import annotations

import os.path as osp

import pytest
import torch
from mmengine.registry import MODELS

import vitdense  # noqa: F401
from vitdense.models.backbones import PyramidBackbone

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def registered_backbones() -> list[type[PyramidBackbone]]:
    """Every vitdense backbone in mmengine's root registry (later ones join automatically)."""
    classes = {
        cls
        for cls in MODELS.module_dict.values()
        if isinstance(cls, type)
        and issubclass(cls, PyramidBackbone)
        and cls.__module__.startswith('vitdense.')
    }
    return sorted(classes, key=lambda c: c.__name__)


BACKBONE_ARCHS = [
    pytest.param(cls, arch, id=f'{cls.__name__}-{arch}')
    for cls in registered_backbones()
    for arch in cls.arch_zoo
]


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def pvt_upstream_layout(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s weights in the PVT-style upstream layout (SpectFormer, SG-Former).

    The inverse of the converters, written from upstream's names: ``patch_embed1`` stem,
    ``patch_embed{2..4}`` downsampling, ``block{i}.j.{..., mlp.{fc1,dwconv.dwconv,fc2}}``
    with separate ``attn.q`` / ``attn.kv``, ``norm{i}`` closing each stage.
    """
    state = {}
    for key, value in model.state_dict().items():
        parts = key.split('.')
        if parts[0] != 'stages':
            state[key.replace('patch_embed.', 'patch_embed1.')] = value.clone()
            continue
        stage, rest = int(parts[1]) + 1, '.'.join(parts[2:])
        if rest.startswith('downsample.'):
            state[f'patch_embed{stage}.{rest[len("downsample.") :]}'] = value.clone()
        elif rest.startswith('norm.'):
            state[f'norm{stage}.{rest[len("norm.") :]}'] = value.clone()
        else:
            rest = (
                rest[len('blocks.') :]
                .replace('.ffn.dwconv.', '.mlp.dwconv.dwconv.')
                .replace('.ffn.', '.mlp.')
            )
            if '.attn.qkv.' in rest:
                dims = value.shape[0] // 3
                state[f'block{stage}.{rest.replace(".qkv.", ".q.")}'] = value[:dims].clone()
                state[f'block{stage}.{rest.replace(".qkv.", ".kv.")}'] = value[dims:].clone()
            else:
                state[f'block{stage}.{rest}'] = value.clone()
    return state
