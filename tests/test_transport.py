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

from vitdense.datasets.transport import ENV_VAR, register_mask_transport


def masks(seed: int, n: int = 3, dtype=np.uint8) -> BitmapMasks:
    rng = np.random.default_rng(seed)
    return BitmapMasks((rng.random((n, 40, 56)) > 0.5).astype(dtype), 40, 56)


def forking_round_trip(obj):
    buf = io.BytesIO()
    ForkingPickler(buf, pickle.HIGHEST_PROTOCOL).dump(obj)
    return pickle.loads(buf.getvalue())


def shared(m: BitmapMasks) -> bool:
    return isinstance(m.masks.base, torch.Tensor) and m.masks.base.is_shared()


@pytest.mark.parametrize('dtype', [np.uint8, bool])
def test_masks_cross_as_a_shared_tensor_bit_for_bit(dtype) -> None:
    sent = masks(0, dtype=dtype)
    sent.extra = 'kept'
    got = forking_round_trip(sent)
    assert type(got) is BitmapMasks and (got.height, got.width, got.extra) == (40, 56, 'kept')
    assert got.masks.dtype == sent.masks.dtype and np.array_equal(got.masks, sent.masks) and shared(got)
    empty = forking_round_trip(BitmapMasks(np.zeros((0, 40, 56), bool), 40, 56))
    assert empty.masks.shape == (0, 40, 56) and empty.masks.dtype == np.uint8  # as mmdet built it
    plain = pickle.loads(pickle.dumps(sent))  # checkpoints, all_gather_object: by value, as before
    assert not isinstance(plain.masks.base, torch.Tensor) and np.array_equal(plain.masks, sent.masks)


def test_views_read_only_arrays_and_dtypes_torch_cannot_hold_cross_too() -> None:
    sent = masks(1)
    for view in (sent.masks[:, ::-1, ::2], sent.masks[1:, 5:30]):  # flipped, strided, cropped
        view_masks = BitmapMasks.__new__(BitmapMasks)
        view_masks.__dict__.update(height=view.shape[1], width=view.shape[2], masks=view)
        got = forking_round_trip(view_masks)
        assert np.array_equal(got.masks, view) and got.masks.flags.c_contiguous and shared(got)
    read_only = masks(2)
    read_only.masks.flags.writeable = False
    got = forking_round_trip(read_only)
    assert np.array_equal(got.masks, read_only.masks) and got.masks.flags.writeable
    for dtype in (object, '>u2'):  # by value, as pickle sends them
        odd = masks(3)
        odd.masks = odd.masks.astype(dtype)
        got = forking_round_trip(odd)
        assert got.masks.dtype == np.dtype(dtype) and np.array_equal(got.masks, odd.masks) and not shared(got)


def test_environment_switch_keeps_mmdets_pickling(monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, '0')
    register_mask_transport()
    try:
        assert not shared(forking_round_trip(masks(0)))
    finally:
        monkeypatch.delenv(ENV_VAR)
        register_mask_transport()
    assert shared(forking_round_trip(masks(0)))


class MaskSet(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return dict(masks=masks(i, n=i))  # image 0 has no instances


def test_worker_batches_hold_the_masks_the_dataset_made() -> None:
    loader = DataLoader(MaskSet(), batch_size=2, num_workers=1, collate_fn=list, timeout=60)
    got = [item['masks'] for batch in loader for item in batch]
    for i, m in enumerate(got):
        assert np.array_equal(m.masks, masks(i, n=i).masks) and len(m) == i
    assert all(shared(m) for m in got[1:])
