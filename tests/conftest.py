"""Shared fixtures: the registered vitdense backbones and small helpers."""

from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Callable, Sequence
from functools import cache, partial

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from timm.models import register_model
from timm.models.convmixer import _create_convmixer

import vitdense  # noqa: F401
from vitdense.models.backbones import TimmPyramid, UpstreamBackbone
from vitdense.utils.launch import load_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@cache
def _parsed_config(path: str) -> Config:
    return load_config(path)


def repo_config(path: str) -> Config:
    """A config of the repository (path relative to it), parsed once per session; a fresh copy each call."""
    return copy.deepcopy(_parsed_config(osp.join(REPO, path)))


def registered_backbones() -> list[type[UpstreamBackbone]]:
    """Every vitdense backbone in mmengine's root registry (later ones join automatically)."""
    classes = {
        cls
        for cls in MODELS.module_dict.values()
        if isinstance(cls, type)
        and issubclass(cls, UpstreamBackbone)
        and cls.__module__.startswith('vitdense.')
    }
    return sorted(classes, key=lambda c: c.__name__)


BACKBONE_ARCHS = [
    pytest.param(cls, arch, id=f'{cls.__name__}-{arch}')
    for cls in registered_backbones()
    for arch in cls.arch_zoo
]


@register_model
def vitdense_test_convmixer(pretrained: bool = False, **kwargs) -> torch.nn.Module:
    """A small ConvMixer (patch 7: a stride that is not a power of two) for the TimmPyramid tests."""
    return _create_convmixer(
        'convmixer_768_32', pretrained, **dict(dict(dim=32, depth=4, patch_size=7), **kwargs)
    )


def recording_backend(aot: bool = False) -> tuple[Callable, list[torch.fx.GraphModule]]:
    """A ``torch.compile`` backend that records the graphs dynamo traces and runs them as traced.

    With ``aot``, it runs them through AOT autograd (``aot_eager``) as inductor does, so that the
    guards AOT autograd's tracing adds also split graphs.
    """
    graphs = []

    def backend(graph: torch.fx.GraphModule, example_inputs: list) -> object:
        graphs.append(graph)
        return torch._dynamo.lookup_backend('aot_eager')(graph, example_inputs) if aot else graph.forward

    return backend, graphs


def traced(
    model: torch.nn.Module, aot: bool = False, **kwargs
) -> tuple[torch.nn.Module, list[torch.fx.GraphModule]]:
    """``model`` (or a function) under ``torch.compile`` with :func:`recording_backend` (``aot`` too)."""
    torch._dynamo.reset()
    backend, graphs = recording_backend(aot)
    return torch.compile(model, backend=backend, **kwargs), graphs


def assert_trains_alike(
    reference: torch.nn.Module, model: torch.nn.Module, expected: Sequence, outputs: Sequence
) -> None:
    """``outputs`` equal ``expected`` and, after the same loss's backward, so do every parameter's gradients.

    Args:
        reference: The model that gave ``expected``.
        model: The model under test (``reference``'s weights) that gave ``outputs``.
        expected: ``reference``'s outputs.
        outputs: ``model``'s outputs on the same input.
    """
    for a, b in zip(expected, outputs, strict=True):
        torch.testing.assert_close(b, a)
    for out in (expected, outputs):
        sum(o.pow(2).mean() for o in out).backward()
    for (name, p), q in zip(reference.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, msg=name)


#: Small timm models through TimmPyramid: hierarchical NCHW (with a stride-2 level to skip),
#: hierarchical NHWC, plain ViT, plain XCiT, and a plain model of stride 7.
TIMM_PYRAMIDS = {
    'resnet18': dict(model_name='resnet18', model_kwargs=dict(zero_init_last=False)),
    'swin': dict(
        model_name='swin_tiny_patch4_window7_224',
        model_kwargs=dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8)),
    ),
    'vit': dict(
        model_name='vit_tiny_patch16_224',
        model_kwargs=dict(depth=4, embed_dim=48, num_heads=3),
    ),
    'xcit': dict(model_name='xcit_nano_12_p16_224', block_indices=(3, 5, 7, 11)),
    'convmixer': dict(model_name='vitdense_test_convmixer'),
}

#: One factory per backbone family (its first size), and the TimmPyramid models:
#: ``factory(**kwargs)`` builds the backbone with the contract's arguments.
BACKBONE_FACTORIES = [
    pytest.param(partial(cls, arch=next(iter(cls.arch_zoo))), id=cls.__name__)
    for cls in registered_backbones()
] + [pytest.param(partial(TimmPyramid, **kw), id=f'TimmPyramid-{name}') for name, kw in TIMM_PYRAMIDS.items()]
#: Settings of an arch that only scale it (widths, depths, heads): sizes that differ in nothing else
#: run the same code (tests/test_backbones.py checks their structure).
SCALING_SETTINGS = {'embed_dims', 'depths', 'depth', 'num_heads', 'stem_dims'}


def _every_size(cls: type) -> list:
    """Each size of ``cls``; a size whose other settings an earlier size already has runs in the sweep."""
    params, layouts = [], []
    for arch, settings in cls.arch_zoo.items():
        layout = {k: v for k, v in settings.items() if k not in SCALING_SETTINGS}
        marks = pytest.mark.sweep if layout in layouts else ()
        layouts.append(layout)
        params.append(pytest.param(partial(cls, arch=arch), id=f'{cls.__name__}-{arch}', marks=marks))
    return params


#: Every size of every family (sizes that only scale an earlier one marked ``sweep``), and the
#: TimmPyramid models.
ALL_BACKBONES = [p for cls in registered_backbones() for p in _every_size(cls)] + BACKBONE_FACTORIES[
    len(registered_backbones()) :
]


# depth-1 versions of each backbone: the same operators as the real sizes, small graphs
_PYRAMID = dict(
    embed_dims=(32, 64, 128, 256), depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), mlp_ratios=(2,) * 4
)
TINY_ARCHS = {
    'LITv2': dict(embed_dims=32, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8)),
    'LIT-swin': dict(_PYRAMID, style='swin'),
    'LIT-pvt': dict(_PYRAMID, style='pvt'),
    'SpectFormer': dict(_PYRAMID, stem_dims=16),
    'SGFormer': dict(_PYRAMID, num_heads=(2, 2, 4, 8), sr_ratios=(8, 4, 2, 1)),
    'CBViT': dict(embed_dims=64, depth=4, num_heads=2),
}


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def randomise(model: torch.nn.Module) -> None:
    """Random weights for conversion round trips: norm scales near 1, positive running variances.

    Output norms ``norm{i}`` keep their initial values: they are dense-only layers, newly
    initialised on loading an upstream checkpoint.
    """
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or name.startswith('norm'):
                continue
            if name.endswith('running_var'):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            else:
                tensor.copy_(torch.randn_like(tensor) * 0.05 + ('norm' in name and name.endswith('weight')))


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
