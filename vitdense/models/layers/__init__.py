"""Building blocks shared by several vitdense backbones."""

from .deform import DeformableTokenMerging, DeformConv2dPack
from .ffn import ConvFFN
from .patch_embed import PatchEmbed

__all__ = ['ConvFFN', 'DeformConv2dPack', 'DeformableTokenMerging', 'PatchEmbed']
