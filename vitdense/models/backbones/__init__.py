"""vitdense backbones, registered in mmengine's root ``MODELS`` registry."""

from .base import CheckpointMismatchError, PyramidBackbone
from .litv2 import LITv2

__all__ = ['CheckpointMismatchError', 'LITv2', 'PyramidBackbone']
