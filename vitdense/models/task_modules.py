"""Detector training pieces that mmdet has, with their host work moved onto the GPU."""

from __future__ import annotations

import numpy as np
import torch
from mmdet.models.task_modules.samplers import RandomSampler
from mmengine.registry import TASK_UTILS


@TASK_UTILS.register_module()
class OnDeviceRandomSampler(RandomSampler):
    """mmdet's ``RandomSampler``, drawing its permutation on the gallery's device.

    mmdet draws ``torch.randperm`` over the whole gallery on the CPU and copies the chosen
    indices to the GPU, a workaround for a CUDA ``randperm`` bug of torch 1.8
    (pytorch/pytorch#57017, fixed in 1.9; open-mmlab/mmdetection#5014 asks to revert it once
    torch is fixed). An RPN's gallery of negatives is every anchor but the positives and the
    ignored, five FPN levels of them, so each image costs single-threaded CPU time every step
    while the GPU waits for the sampled indices. This sampler permutes on the
    gallery's device instead, as torchvision's ``BalancedPositiveNegativeSampler`` does: the
    same uniform draw without replacement (for a CPU gallery, mmdet's draw exactly), from the
    device's generator, so a seeded run picks other anchors than mmdet's would and the device's
    later random draws (drop path) differ too.

    Arguments are ``RandomSampler``'s. Galleries given as lists or arrays take mmdet's path.
    """

    def random_choice(self, gallery: torch.Tensor | np.ndarray | list, num: int) -> torch.Tensor | np.ndarray:
        """``num`` distinct elements of ``gallery``, drawn uniformly at random.

        Args:
            gallery: The indices to choose from (N,).
            num: How many to choose, at most N.

        Returns:
            The chosen indices (num,), a tensor on the gallery's device for a tensor gallery.

        Raises:
            ValueError: If the gallery holds fewer than ``num`` elements.
        """
        if len(gallery) < num:
            raise ValueError(f'cannot sample {num} distinct elements from a gallery of {len(gallery)}')
        if not isinstance(gallery, torch.Tensor):
            return super().random_choice(gallery, num)
        perm = torch.randperm(gallery.numel(), device=gallery.device)[:num]  # num
        return gallery[perm]
