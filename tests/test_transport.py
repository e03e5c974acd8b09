"""Instance masks cross from data-loader workers through shared memory, unchanged."""

from __future__ import annotations

import io
import pickle
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks
from torch.utils.data import DataLoader, Dataset

import vitdense  # noqa: F401  (registers the transport)


def masks(seed: int, n: int = 3, dtype=np.uint8) -> BitmapMasks:
    rng = np.random.default_rng(seed)
    return BitmapMasks((rng.random((n, 40, 56)) > 0.5).astype(dtype), 40, 56)


def forking_round_trip(obj):
    buf = io.BytesIO()
    ForkingPickler(buf, pickle.HIGHEST_PROTOCOL).dump(obj)
    return pickle.loads(buf.getvalue())


@pytest.mark.parametrize('dtype', [np.uint8, bool])
def test_masks_cross_as_a_shared_tensor_bit_for_bit(dtype) -> None:
    sent = masks(0, dtype=dtype)
    got = forking_round_trip(sent)
    assert type(got) is BitmapMasks and (got.height, got.width) == (40, 56)
    assert got.masks.dtype == sent.masks.dtype and np.array_equal(got.masks, sent.masks)
    assert isinstance(got.masks.base, torch.Tensor) and got.masks.base.is_shared()
    empty = forking_round_trip(BitmapMasks(np.zeros((0, 40, 56), bool), 40, 56))
    assert empty.masks.shape == (0, 40, 56) and empty.masks.dtype == np.uint8  # as mmdet built it
    plain = pickle.loads(pickle.dumps(sent))  # checkpoints, all_gather_object: by value, as before
    assert not isinstance(plain.masks.base, torch.Tensor) and np.array_equal(plain.masks, sent.masks)


class MaskSet(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return dict(masks=masks(i, n=i))  # image 0 has no instances


def test_worker_batches_hold_the_masks_the_dataset_made() -> None:
    loader = DataLoader(MaskSet(), batch_size=2, num_workers=1, collate_fn=list)
    got = [item['masks'] for batch in loader for item in batch]
    for i, m in enumerate(got):
        assert np.array_equal(m.masks, masks(i, n=i).masks) and len(m) == i
    assert all(isinstance(m.masks.base, torch.Tensor) for m in got[1:])
