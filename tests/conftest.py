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
