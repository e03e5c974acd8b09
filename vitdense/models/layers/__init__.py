"""Building blocks shared by several vitdense backbones."""

from .attention import GlobalAttention, window_attention
from .checkpoint import maybe_checkpoint
from .context_broadcast import ContextBroadcast
from .deform import DeformableTokenMerging, DeformConv2dPack
from .ffn import ConvFFN
from .patch_embed import PatchEmbed
from .pos_embed import relative_position_index, resize_rel_pos_table, sincos_pos_embed_2d
from .stage import Stage
from .tracing import is_exporting
from .window import crop_to, pad_to_multiple, window_merge, window_partition

__all__ = [
    'ContextBroadcast',
    'ConvFFN',
    'DeformConv2dPack',
    'DeformableTokenMerging',
    'GlobalAttention',
    'PatchEmbed',
    'Stage',
    'crop_to',
    'is_exporting',
    'maybe_checkpoint',
    'pad_to_multiple',
    'relative_position_index',
    'resize_rel_pos_table',
    'sincos_pos_embed_2d',
    'window_attention',
    'window_merge',
    'window_partition',
]
