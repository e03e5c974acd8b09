"""vitdense: dense-prediction backbones for OpenMMLab 2.0.

Importing the package registers every vitdense module once, in mmengine's root
registries, so ``type='LITv2'`` resolves from mmdet, mmseg and mmpretrain
configs alike (``custom_imports=dict(imports=['vitdense'])``). It also makes
mmengine's checkpoint loading work with torch >= 2.6 (see
:mod:`vitdense.utils.checkpoint_io`), and data-loader workers send mmdet's instance
masks through shared memory (see :mod:`vitdense.datasets.transport`).
"""

from . import datasets, engine  # noqa: F401  (token labeling's data; the protocols' training pieces)
from .datasets.transport import register_mask_transport
from .models import *  # noqa: F401,F403
from .utils.checkpoint_io import register_checkpoint_loaders
from .version import __version__

register_checkpoint_loaders()
register_mask_transport()

__all__ = ['__version__']
