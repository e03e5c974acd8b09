"""Instance masks from data-loader workers through shared memory, as tensors travel.

A ``DataLoader`` worker hands each batch to the training process through a
``multiprocessing`` queue, pickled with ``ForkingPickler``: torch registers its tensors
there, so an image crosses as a shared-memory handle. mmdet's ``BitmapMasks`` hold
numpy arrays, which pickle by value: every mask of every image (a megabyte each at
800x1333, uint8) is written into the pipe by the worker and read back and copied by
the training process, on the step's critical path. :func:`register_mask_transport`
(run by ``import vitdense``) registers a reducer for ``BitmapMasks`` with
``ForkingPickler`` alone, so the masks' bytes cross as a shared-memory tensor and come
back as a numpy view of it: the same masks, bit for bit. Plain ``pickle`` (checkpoints,
``all_gather_object``) is untouched.
"""

from __future__ import annotations

from multiprocessing.reduction import ForkingPickler

import numpy as np
import torch
from mmdet.structures.mask import BitmapMasks


def _rebuild_bitmap_masks(state: dict, masks: torch.Tensor) -> BitmapMasks:
    """The sent ``BitmapMasks``, its array a view of the received tensor's memory (which it keeps alive)."""
    rebuilt = BitmapMasks.__new__(BitmapMasks)  # not __init__, which copies (and retypes empty masks)
    rebuilt.__dict__.update(state, masks=masks.numpy())
    return rebuilt


def _reduce_bitmap_masks(masks: BitmapMasks) -> tuple:
    """Pickle ``masks`` with its array as a tensor, which ``ForkingPickler`` sends through shared memory."""
    array = torch.from_numpy(np.ascontiguousarray(masks.masks))  # N, H, W
    return _rebuild_bitmap_masks, ({k: v for k, v in vars(masks).items() if k != 'masks'}, array)


def register_mask_transport() -> None:
    """Send mmdet's ``BitmapMasks`` between processes through shared memory (``ForkingPickler`` only)."""
    ForkingPickler.register(BitmapMasks, _reduce_bitmap_masks)
