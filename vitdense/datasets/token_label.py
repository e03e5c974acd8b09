"""Token labeling's data side, as the hierarchical SpectFormer trains with it.

Jiang et al., "All Tokens Matter: Token Labeling for Training Better Vision Transformers", NeurIPS
2021 (zihangJiang/TokenLabeling ``tlt/data``), in badripatro/SpectFormers
``hierarchical_architecture/main.py``.

Every training image has a label map made once by a teacher (NFNet-F6 at 576 px in upstream's
files): the top-5 class logits and indices of each cell of an 18 x 18 grid over the image, saved
with ``torch.save`` as a float16 tensor of shape (2, 5, 18, 18) (``[0]`` logits, ``[1]`` class
indices) at ``<label root>/<wnid>/<image name without extension>.pt``. The geometric augmentations
move the map with the image: the horizontal flip and RandAugment's rotations, shears and
translations warp it too (nearest neighbour, zeros outside), and the random resized crop, which
comes last, records where it cut (``token_label_crop``) so that the classifier's head pools each
token's target out of the map (see :mod:`vitdense.models.token_label`). Inside the pipeline the map
is an (18, 18, 10) float32 array, values then indices, so that mmcv's image functions warp it.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Callable

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, RandomFlip
from mmengine.registry import DATASETS, TRANSFORMS
from mmpretrain.datasets import ImageNet
from mmpretrain.datasets.transforms import RandAugment, RandomResizedCrop, Rotate, Shear, Translate
from mmpretrain.datasets.transforms.auto_augment import RANDAUG_POLICIES

#: Where upstream's README puts the label maps, relative to the ImageNet root.
DEFAULT_LABEL_ROOT = 'label_top5_train_nfnet'
LABEL_MAP_HINT = (
    'Token labeling needs one label map per training image, a float16 tensor (2, 5, 18, 18) of the '
    "teacher's top-5 logits and class indices saved with torch.save at <label root>/<wnid>/<image "
    "name>.pt. Download upstream's NFNet-F6 maps (zihangJiang/TokenLabeling README, "
    '"label_top5_train_nfnet") or make them with its generate_label.py, and pass their folder as '
    'train_dataloader.dataset.token_label_root; without them train with the plain recipe '
    '(configs/imagenet/spectformer_h-*_in1k.py).'
)


def token_label_path(label_root: str, img_path: str) -> str:
    """The label map of ``img_path``: ``<label_root>/<class folder>/<name up to its first dot>.pt``."""
    folder, name = osp.split(img_path)
    return osp.join(label_root, osp.basename(folder), name.split('.')[0] + '.pt')


@DATASETS.register_module()
class TokenLabelImageNet(ImageNet):
    """mmpretrain's ``ImageNet`` training split with a token-label map per image.

    Args:
        token_label_root: Folder of the label maps (see the module docstring), relative to
            ``data_root`` unless absolute.
        *args: ``ImageNet``'s.
        **kwargs: ``ImageNet``'s.

    Raises:
        FileNotFoundError: When the folder, or the map of the first or last image, is missing.
    """

    def __init__(self, *args, token_label_root: str = DEFAULT_LABEL_ROOT, **kwargs) -> None:
        self.token_label_root = token_label_root
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> list[dict]:
        """ImageNet's list, each image with its ``token_label_path``."""
        root = osp.join(self.data_root, self.token_label_root)
        if not osp.isdir(root):
            raise FileNotFoundError(f'TokenLabelImageNet: no label maps at {root}. {LABEL_MAP_HINT}')
        data_list = super().load_data_list()
        for info in data_list:
            info['token_label_path'] = token_label_path(root, info['img_path'])
        for info in data_list[:1] + data_list[-1:]:
            if not osp.isfile(info['token_label_path']):
                raise FileNotFoundError(
                    f'TokenLabelImageNet: {info["token_label_path"]} (the label map of '
                    f'{info["img_path"]}) does not exist. {LABEL_MAP_HINT}'
                )
        return data_list


@TRANSFORMS.register_module()
class LoadTokenLabel(BaseTransform):
    """Read ``token_label_path`` into ``token_label``, an (H, W, 2K) float32 array (values, indices)."""

    def transform(self, results: dict) -> dict:
        """Load the map of one image (a clear error when it is missing or of another layout)."""
        path = results['token_label_path']
        if not osp.isfile(path):
            raise FileNotFoundError(f'LoadTokenLabel: {path} does not exist. {LABEL_MAP_HINT}')
        label = torch.load(path, map_location='cpu', weights_only=True)
        if not isinstance(label, torch.Tensor) or label.dim() != 4 or label.shape[0] != 2:
            shape = tuple(label.shape) if isinstance(label, torch.Tensor) else type(label).__name__
            raise ValueError(
                f'LoadTokenLabel: {path} holds {shape}, not a (2, K, H, W) tensor. {LABEL_MAP_HINT}'
            )
        results['token_label'] = token_label_array(label)
        return results


def token_label_array(label: torch.Tensor) -> np.ndarray:
    """Upstream's (2, K, H, W) map as the pipeline carries it: an (H, W, 2K) float32 array."""
    return label.float().flatten(0, 1).permute(1, 2, 0).contiguous().numpy()


def token_label_tensor(label: np.ndarray) -> torch.Tensor:
    """The pipeline's (H, W, 2K) array back in upstream's (2, K, H, W) layout."""
    h, w, c = label.shape
    return torch.from_numpy(np.ascontiguousarray(label)).permute(2, 0, 1).reshape(2, c // 2, h, w)


def _warp(results: dict, warp: Callable[[np.ndarray], np.ndarray]) -> None:
    """Warp ``results['token_label']`` (if any) with ``warp`` (nearest neighbour, zeros outside)."""
    if 'token_label' in results:
        results['token_label'] = warp(results['token_label']).astype(np.float32)


@TRANSFORMS.register_module()
class TokenLabelFlip(RandomFlip):
    """mmcv's ``RandomFlip`` that flips the token-label map with the image."""

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        _warp(results, lambda label: mmcv.imflip(label, direction=results['flip_direction']))


class _WarpsTokenLabel:
    """Mixin for mmpretrain's geometric transforms: the token-label map gets the image's warp.

    The parent transform runs on the image; then it runs again on the map alone, from the same
    NumPy random state (so with the same decision and magnitude), with nearest-neighbour sampling,
    zeros outside and rotations about the map's centre. The random state after the call is the
    parent's, so a pipeline draws the same numbers with or without a map.
    """

    def transform(self, results: dict) -> dict:
        """Warp the image, then the map (if any) in the same way."""
        state = np.random.get_state()
        results = super().transform(results)
        if 'token_label' not in results:
            return results
        after = np.random.get_state()
        label_args = {
            name: value
            for name, value in dict(pad_val=0, interpolation='nearest', center=None).items()
            if hasattr(self, name)
        }
        saved = {name: getattr(self, name) for name in label_args}
        np.random.set_state(state)
        try:
            for name, value in label_args.items():
                setattr(self, name, value)
            label = super().transform({'img': results['token_label']})['img']
            results['token_label'] = label.astype(np.float32)
        finally:
            for name, value in saved.items():
                setattr(self, name, value)
            np.random.set_state(after)
        return results


@TRANSFORMS.register_module()
class TokenLabelRotate(_WarpsTokenLabel, Rotate):
    """mmpretrain's ``Rotate`` that rotates the token-label map by the same angle about its centre.

    Raises:
        ValueError: With a ``center``: the map's pixels are not the image's.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.center is not None:
            raise ValueError('TokenLabelRotate rotates about the centre: leave center=None')


@TRANSFORMS.register_module()
class TokenLabelShear(_WarpsTokenLabel, Shear):
    """mmpretrain's ``Shear`` that shears the token-label map by the same factor."""


@TRANSFORMS.register_module()
class TokenLabelTranslate(_WarpsTokenLabel, Translate):
    """mmpretrain's ``Translate`` that moves the token-label map by the same share of its size."""


#: RandAugment's geometric operations and their label-aware versions.
LABEL_AWARE = {'Rotate': 'TokenLabelRotate', 'Shear': 'TokenLabelShear', 'Translate': 'TokenLabelTranslate'}


@TRANSFORMS.register_module()
class TokenLabelRandAugment(RandAugment):
    """mmpretrain's ``RandAugment`` whose rotations, shears and translations also warp the token-label map.

    The arguments are ``RandAugment``'s; the colour operations leave the map as it is.
    """

    def __init__(self, policies: str | list[dict], *args, **kwargs) -> None:
        if isinstance(policies, str):
            if policies not in RANDAUG_POLICIES:
                raise KeyError(
                    f'TokenLabelRandAugment: unknown policies {policies!r}; one of {list(RANDAUG_POLICIES)}'
                )
            policies = RANDAUG_POLICIES[policies]
        policies = [dict(p, type=LABEL_AWARE.get(p['type'], p['type'])) for p in policies]
        super().__init__(policies, *args, **kwargs)


@TRANSFORMS.register_module()
class RandomResizedCropWithCoords(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` that records where it cut as ``token_label_crop``.

    ``token_label_crop`` is (top, left, bottom, right) as shares of the image's height and width
    (float32), from which the head pools each token's target; the map itself is not cut.
    The arguments are ``RandomResizedCrop``'s.
    """

    def transform(self, results: dict) -> dict:
        """Crop and resize the image; store the crop's box."""
        img = results['img']
        height, width = img.shape[:2]
        top, left, crop_h, crop_w = self.rand_crop_params(img)
        img = mmcv.imcrop(img, bboxes=np.array([left, top, left + crop_w - 1, top + crop_h - 1]))
        img = mmcv.imresize(
            img, tuple(self.scale[::-1]), interpolation=self.interpolation, backend=self.backend
        )
        results['img'] = img
        results['img_shape'] = img.shape
        results['token_label_crop'] = np.array(
            [top / height, left / width, (top + crop_h) / height, (left + crop_w) / width], np.float32
        )
        return results
