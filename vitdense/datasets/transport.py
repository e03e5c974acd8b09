"""Instance masks from data-loader workers through shared memory, as tensors travel.

A ``DataLoader`` worker hands each batch to the training process through a
``multiprocessing`` queue, pickled with ``ForkingPickler``: torch registers its tensors
there, so an image crosses as a shared-memory handle. mmdet's ``BitmapMasks`` hold
numpy arrays, which pickle by value: every mask of every image (a byte per pixel,
uint8) is written into the pipe by the worker and read back and copied by
the training process, on the step's critical path. :func:`register_mask_transport`
(run by ``import vitdense``) registers a reducer for ``BitmapMasks`` with
``ForkingPickler`` alone, so the masks' bytes cross as a shared-memory tensor and come
back as a numpy view of it: the same values, dtype and shape (C-contiguous and writable).
Plain ``pickle`` (checkpoints, ``all_gather_object``) is untouched, and so are masks of
a dtype torch cannot hold, which cross by value. ``VITDENSE_SHARED_MASKS=0`` in the
environment keeps mmdet's pickling (the masks then take no room in ``/dev/shm``).
"""

from __future__ import annotations

import os
from multiprocessing.reduction import ForkingPickler

import numpy as np
import torch
from mmdet.structures.mask import BitmapMasks

#: Set to ``0`` to send masks by value, as mmdet does.
ENV_VAR = 'VITDENSE_SHARED_MASKS'


def _rebuild_bitmap_masks(state: dict, masks: torch.Tensor | np.ndarray) -> BitmapMasks:
    """The sent ``BitmapMasks``; a tensor's array is a view of its memory (which the array keeps alive)."""
    rebuilt = BitmapMasks.__new__(BitmapMasks)  # not __init__, which copies (and retypes empty masks)
    rebuilt.__dict__.update(state, masks=masks.numpy() if isinstance(masks, torch.Tensor) else masks)
    return rebuilt


def _reduce_bitmap_masks(masks: BitmapMasks) -> tuple:
    """Pickle ``masks`` with its array as a tensor, which ``ForkingPickler`` sends through shared memory."""
    state = {k: v for k, v in vars(masks).items() if k != 'masks'}
    array = masks.masks  # N, H, W
    if not (array.flags.c_contiguous and array.flags.writeable):
        array = np.array(array, order='C')  # torch takes neither negative strides nor read-only memory
    try:
        return _rebuild_bitmap_masks, (state, torch.from_numpy(array))
    except (TypeError, ValueError):  # a dtype torch cannot hold (object, non-native byte order): by value
        return _rebuild_bitmap_masks, (state, masks.masks)


def register_mask_transport() -> None:
    """Send mmdet's ``BitmapMasks`` between processes through shared memory (``ForkingPickler`` only).

    With ``VITDENSE_SHARED_MASKS=0`` in the environment, masks go by value, as with mmdet alone.
    """
    if os.environ.get(ENV_VAR, '1') == '0':
        ForkingPickler._extra_reducers.pop(BitmapMasks, None)
    else:
        ForkingPickler.register(BitmapMasks, _reduce_bitmap_masks)
