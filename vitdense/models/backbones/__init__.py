"""vitdense backbones, registered in mmengine's root ``MODELS`` registry."""

from .base import CheckpointMismatchError, PyramidBackbone
from .cbvit import CBViT
from .lit import LIT
from .litv2 import LITv2
from .sgformer import SGFormer
from .spectformer import SpectFormer
from .timm_pyramid import TimmPyramid

__all__ = [
    'CBViT',
    'CheckpointMismatchError',
    'LIT',
    'LITv2',
    'PyramidBackbone',
    'SGFormer',
    'SpectFormer',
    'TimmPyramid',
]
