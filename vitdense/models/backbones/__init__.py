"""vitdense backbones, registered in mmengine's root ``MODELS`` registry."""

from .base import DenseBackbone, PyramidBackbone, StageSpec, UpstreamBackbone
from .cbvit import CBViT
from .lit import LIT
from .litv2 import LITv2
from .sgformer import SGFormer
from .spectformer import SpectFormer
from .timm_pyramid import TimmPyramid
from .weights import CheckpointMismatchError

__all__ = [
    'CBViT',
    'CheckpointMismatchError',
    'DenseBackbone',
    'LIT',
    'LITv2',
    'PyramidBackbone',
    'SGFormer',
    'SpectFormer',
    'StageSpec',
    'TimmPyramid',
    'UpstreamBackbone',
]
