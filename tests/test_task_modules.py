"""vitdense's detector training pieces: mmdet's behaviour, on the GPU."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import RandomSampler
from mmengine.registry import TASK_UTILS
from mmengine.structures import InstanceData

from vitdense.models.task_modules import OnDeviceRandomSampler


def test_sampler_draws_what_mmdets_draws_from_the_same_generator() -> None:
    """On a CPU gallery both permute with the CPU generator: the same draw, element for element."""
    gallery = torch.randperm(5000, generator=torch.Generator().manual_seed(1))[:500]  # N distinct indices
    cfg = dict(num=50, pos_fraction=0.5)
    torch.manual_seed(0)
    ours = [OnDeviceRandomSampler(**cfg).random_choice(gallery, 50) for _ in range(20)]
    torch.manual_seed(0)
    mmdets = [RandomSampler(**cfg).random_choice(gallery, 50) for _ in range(20)]
    assert all(torch.equal(a, b) for a, b in zip(ours, mmdets, strict=True))
    assert ours[0].dtype == gallery.dtype and len(set(ours[0].tolist())) == 50


@pytest.mark.skipif(not torch.cuda.is_available(), reason='the GPU path needs a GPU')
def test_sampler_draws_on_the_gpu_deterministically() -> None:
    sampler = OnDeviceRandomSampler(num=256, pos_fraction=0.5)
    gallery = torch.arange(240_000, device='cuda') * 3
    with torch.random.fork_rng(devices=[0]):
        torch.use_deterministic_algorithms(True)
        try:
            torch.manual_seed(0)
            first = sampler.random_choice(gallery, 256)
            torch.manual_seed(0)
            again = sampler.random_choice(gallery, 256)
        finally:
            torch.use_deterministic_algorithms(False)
    assert first.is_cuda and torch.equal(first, again) and first.unique().numel() == 256
    assert (first % 3 == 0).all()


def test_sampler_permutes_on_the_gallerys_device_and_keeps_mmdets_path_for_arrays() -> None:
    sampler = OnDeviceRandomSampler(num=4, pos_fraction=0.5)
    gallery = torch.arange(10, 30)
    with mock.patch('torch.randperm', wraps=torch.randperm) as randperm:
        sampler.random_choice(gallery, 4)
    assert randperm.call_args.kwargs.get('device') == gallery.device, 'the permutation is drawn on the CPU'
    chosen = sampler.random_choice(list(range(10, 30)), 4)
    assert isinstance(chosen, np.ndarray) and len(set(chosen.tolist())) == 4
    with pytest.raises(ValueError, match='cannot sample 5 distinct elements from a gallery of 4'):
        sampler.random_choice(torch.arange(4), 5)


def test_sampler_samples_as_mmdets_random_sampler_counts() -> None:
    """Through mmdet's ``sample``: the same numbers of positives and negatives, from the same pools."""
    n = 20000
    gt_inds = torch.zeros(n, dtype=torch.long)
    gt_inds[:300] = 1  # more positives than the fraction allows
    gt_inds[300:400] = -1  # ignored
    assign = AssignResult(
        num_gts=1, gt_inds=gt_inds, max_overlaps=torch.rand(n), labels=torch.zeros(n).long()
    )
    pred = InstanceData(priors=torch.rand(n, 4))
    gt = InstanceData(bboxes=torch.rand(1, 4), labels=torch.zeros(1).long())
    cfg = dict(num=256, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False)
    ours = TASK_UTILS.build(dict(type='OnDeviceRandomSampler', **cfg)).sample(assign, pred, gt)
    mmdets = RandomSampler(**cfg).sample(assign, pred, gt)
    assert (
        (len(ours.pos_inds), len(ours.neg_inds)) == (len(mmdets.pos_inds), len(mmdets.neg_inds)) == (128, 128)
    )
    assert (gt_inds[ours.pos_inds] == 1).all() and (gt_inds[ours.neg_inds] == 0).all()
    assert ours.pos_inds.unique().numel() == 128 and ours.neg_inds.unique().numel() == 128
