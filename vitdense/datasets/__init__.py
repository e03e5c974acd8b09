"""Data helpers of vitdense."""

from . import token_label  # noqa: F401  (token labeling's dataset and transforms, registered)
from .synthetic import ade20k_exists, coco_exists, imagenet_exists, make_ade20k, make_coco, make_imagenet

__all__ = ['ade20k_exists', 'coco_exists', 'imagenet_exists', 'make_ade20k', 'make_coco', 'make_imagenet']
