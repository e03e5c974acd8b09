"""Synthetic data sets in the exact on-disk layouts of COCO and ADE20K.

The images hold coloured geometric shapes on textured backgrounds: each class
has its own shape and hue, so a detector or segmenter can learn them in a few
hundred iterations. The files are what the real loaders read, so every real
config runs on them unchanged once ``data_root`` points at them.

COCO (``root`` like ``data/coco``)::

    annotations/instances_{train,val}2017.json   # 80 COCO categories, polygons
    {train,val}2017/000000000001.jpg

ADE20K (``root`` like ``data/ade/ADEChallengeData2016``)::

    images/{training,validation}/ADE_{train,val}_00000001.jpg
    annotations/{training,validation}/ADE_{train,val}_00000001.png  # 0 = other, 1..150

ImageNet-1k as mmpretrain reads it (``root`` like ``data/imagenet``)::

    train/n00000000/n00000000_1.JPEG          # one folder per class, ILSVRC2012 style
    val/ILSVRC2012_val_00000001.JPEG         # one flat folder, as the official val set
    meta/train.txt                           # "n00000000/n00000000_1.JPEG 0" per line
    meta/val.txt                             # "ILSVRC2012_val_00000001.JPEG 0" per line

Class ``k`` is WordNet-id-like ``n{k:08d}`` (the real set's folders are WordNet ids, listed in
wnid order, which is what the label index follows); labels index the 1000 classes, of which
the synthetic set fills the first ``num_classes``.
"""

from __future__ import annotations

import json
import math
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

#: The 80 COCO category ids and names, in the order of the official annotation files.
COCO_CATEGORIES: tuple[tuple[int, str], ...] = tuple(
    zip(
        [
            *range(1, 12),
            *range(13, 26),
            27,
            28,
            *range(31, 45),
            *range(46, 66),
            67,
            70,
            *range(72, 83),
            *range(84, 91),
        ],
        [
            'person',
            'bicycle',
            'car',
            'motorcycle',
            'airplane',
            'bus',
            'train',
            'truck',
            'boat',
            'traffic light',
            'fire hydrant',
            'stop sign',
            'parking meter',
            'bench',
            'bird',
            'cat',
            'dog',
            'horse',
            'sheep',
            'cow',
            'elephant',
            'bear',
            'zebra',
            'giraffe',
            'backpack',
            'umbrella',
            'handbag',
            'tie',
            'suitcase',
            'frisbee',
            'skis',
            'snowboard',
            'sports ball',
            'kite',
            'baseball bat',
            'baseball glove',
            'skateboard',
            'surfboard',
            'tennis racket',
            'bottle',
            'wine glass',
            'cup',
            'fork',
            'knife',
            'spoon',
            'bowl',
            'banana',
            'apple',
            'sandwich',
            'orange',
            'broccoli',
            'carrot',
            'hot dog',
            'pizza',
            'donut',
            'cake',
            'chair',
            'couch',
            'potted plant',
            'bed',
            'dining table',
            'toilet',
            'tv',
            'laptop',
            'mouse',
            'remote',
            'keyboard',
            'cell phone',
            'microwave',
            'oven',
            'toaster',
            'sink',
            'refrigerator',
            'book',
            'clock',
            'vase',
            'scissors',
            'teddy bear',
            'hair drier',
            'toothbrush',
        ],
        strict=True,
    )
)


@dataclass(frozen=True)
class ShapeClass:
    """A learnable object class: a shape drawn in a colour."""

    shape: str  # 'circle' | 'rectangle' | 'triangle' | 'diamond'
    color: tuple[int, int, int]  # BGR


#: Synthetic COCO objects, keyed by COCO category name.
COCO_SHAPES: dict[str, ShapeClass] = {
    'sports ball': ShapeClass('circle', (40, 60, 230)),
    'tv': ShapeClass('rectangle', (220, 120, 30)),
    'kite': ShapeClass('triangle', (40, 200, 60)),
    'clock': ShapeClass('diamond', (30, 210, 230)),
}

#: Synthetic ADE20K objects, keyed by ADE20K label value (1-based, 0 = other).
ADE_SHAPES: dict[int, ShapeClass] = {
    8: ShapeClass('rectangle', (220, 120, 30)),  # bed
    5: ShapeClass('circle', (40, 200, 60)),  # tree
    21: ShapeClass('triangle', (40, 60, 230)),  # car
    20: ShapeClass('diamond', (30, 210, 230)),  # chair
}
#: ADE20K labels of the two background regions: wall (top) and floor (bottom).
ADE_BACKGROUND = (1, 4)


_SIDES = {'circle': 32, 'rectangle': 4, 'triangle': 3, 'diamond': 4}


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Vertices (N, 2) of ``shape`` centred at (cx, cy) with radius ``r``."""
    n = _SIDES[shape]
    t = angle + np.arange(n) * 2 * math.pi / n + (math.pi / 4 if shape == 'rectangle' else 0.0)
    radii = np.full(n, r)
    if shape == 'diamond':
        radii[1::2] *= 0.55
    return np.stack([cx + radii * np.cos(t), cy + radii * np.sin(t)], axis=1)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colour gradient with noise (uint8 BGR)."""
    c0, c1 = rng.integers(60, 200, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, h)[:, None, None] * np.ones((1, w, 1))
    img = c0 * (1 - ramp) + c1 * ramp + rng.normal(0, 12, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _place_objects(
    rng: np.random.Generator, h: int, w: int, max_objects: int
) -> list[tuple[float, float, float]]:
    """Centres and radii of non-overlapping objects inside the image."""
    placed: list[tuple[float, float, float]] = []
    side = min(h, w)
    for _ in range(50 * max_objects):
        if len(placed) == max_objects:
            break
        r = rng.uniform(0.08, 0.22) * side
        cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        if all(math.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in placed):
            placed.append((cx, cy, r))
    return placed


#: Width:height of the images that ``vary_size`` draws from: COCO's common ones, landscape and portrait.
ASPECT_RATIOS: tuple[float, ...] = (4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4, 2 / 3)


def _image_shape(rng: np.random.Generator, image_size: Sequence[int], vary_size: bool) -> tuple[int, int]:
    """(height, width) of the next image: ``image_size``, or one of ``ASPECT_RATIOS`` at its longer side."""
    if not vary_size:
        return image_size[0], image_size[1]
    side, ratio = max(image_size), ASPECT_RATIOS[int(rng.integers(len(ASPECT_RATIOS)))]
    return (round(side / ratio), side) if ratio >= 1 else (side, round(side * ratio))


def _draw(img: np.ndarray, poly: np.ndarray, cls: ShapeClass, rng: np.random.Generator) -> None:
    color = np.clip(np.array(cls.color) + rng.integers(-25, 26, size=3), 0, 255)
    cv2.fillPoly(img, [np.round(poly).astype(np.int32)], color.tolist(), lineType=cv2.LINE_8)


def make_coco(
    root: str | Path,
    num_train: int = 64,
    num_val: int = 16,
    image_size: Sequence[int] = (320, 320),
    max_objects: int = 4,
    seed: int = 0,
    vary_size: bool = False,
) -> None:
    """Write a synthetic instance-segmentation set in the COCO 2017 layout.

    Args:
        root: Destination (e.g. ``data/coco``).
        num_train: Images in ``train2017``.
        num_val: Images in ``val2017``.
        image_size: (height, width) of every image; with ``vary_size``, its longer side is every
            image's longer side.
        max_objects: Most objects in one image (at least one).
        seed: Random seed; the same seed writes the same files.
        vary_size: Give each image one of COCO's common shapes (``ASPECT_RATIOS``, landscape or
            portrait), so that, as in the real set, a detector's padded batch sizes vary over a few
            values that recur.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    cat_id = {name: cid for cid, name in COCO_CATEGORIES}
    categories = [{'id': cid, 'name': name, 'supercategory': 'synthetic'} for cid, name in COCO_CATEGORIES]
    names = list(COCO_SHAPES)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    ann_id = 1
    image_id = 1
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        (root / split).mkdir(exist_ok=True)
        images, annotations = [], []
        for _ in range(count):
            h, w = _image_shape(rng, image_size, vary_size)
            img = _background(rng, h, w)
            for cx, cy, r in _place_objects(rng, h, w, int(rng.integers(1, max_objects + 1))):
                name = names[int(rng.integers(len(names)))]
                poly = _polygon(COCO_SHAPES[name].shape, cx, cy, r, rng.uniform(0, math.pi / 6))
                poly = np.clip(poly, 0, [w - 1, h - 1])
                _draw(img, poly, COCO_SHAPES[name], rng)
                x0, y0 = poly.min(0)
                x1, y1 = poly.max(0)
                area = 0.5 * abs(
                    np.dot(poly[:, 0], np.roll(poly[:, 1], 1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], 1))
                )
                annotations.append(
                    {
                        'id': ann_id,
                        'image_id': image_id,
                        'category_id': cat_id[name],
                        'segmentation': [np.round(poly, 2).reshape(-1).tolist()],
                        'area': float(area),
                        'bbox': [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                        'iscrowd': 0,
                    }
                )
                ann_id += 1
            file_name = f'{image_id:012d}.jpg'
            cv2.imwrite(str(root / split / file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            images.append({'id': image_id, 'file_name': file_name, 'height': h, 'width': w})
            image_id += 1
        with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
            json.dump({'images': images, 'annotations': annotations, 'categories': categories}, f)


def make_ade20k(
    root: str | Path,
    num_train: int = 64,
    num_val: int = 16,
    image_size: Sequence[int] = (256, 256),
    max_objects: int = 4,
    seed: int = 0,
    vary_size: bool = False,
) -> None:
    """Write a synthetic semantic-segmentation set in the ADEChallengeData2016 layout.

    Args:
        root: Destination (e.g. ``data/ade/ADEChallengeData2016``).
        num_train: Images in ``images/training``.
        num_val: Images in ``images/validation``.
        image_size: (height, width) of every image; with ``vary_size``, its longer side is every
            image's longer side.
        max_objects: Most objects in one image (at least one).
        seed: Random seed; the same seed writes the same files.
        vary_size: Give each image one of ``ASPECT_RATIOS`` (landscape or portrait).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    labels = list(ADE_SHAPES)
    for split, prefix, count in (('training', 'ADE_train', num_train), ('validation', 'ADE_val', num_val)):
        (root / 'images' / split).mkdir(parents=True, exist_ok=True)
        (root / 'annotations' / split).mkdir(parents=True, exist_ok=True)
        for index in range(1, count + 1):
            h, w = _image_shape(rng, image_size, vary_size)
            img = _background(rng, h, w)
            seg = np.full((h, w), ADE_BACKGROUND[0], np.uint8)
            horizon = int(rng.uniform(0.35, 0.65) * h)
            img[horizon:] = np.clip(img[horizon:].astype(np.int16) // 2 + 60, 0, 255).astype(np.uint8)
            seg[horizon:] = ADE_BACKGROUND[1]
            for cx, cy, r in _place_objects(rng, h, w, int(rng.integers(1, max_objects + 1))):
                label = labels[int(rng.integers(len(labels)))]
                poly = _polygon(ADE_SHAPES[label].shape, cx, cy, r, rng.uniform(0, math.pi / 6))
                _draw(img, poly, ADE_SHAPES[label], rng)
                cv2.fillPoly(seg, [np.round(poly).astype(np.int32)], label, lineType=cv2.LINE_8)
            name = f'{prefix}_{index:08d}'
            cv2.imwrite(str(root / 'images' / split / f'{name}.jpg'), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(str(root / 'annotations' / split / f'{name}.png'), seg)


def make_imagenet(
    root: str | Path,
    num_train: int = 64,
    num_val: int = 16,
    image_size: Sequence[int] = (256, 320),
    num_classes: int = 4,
    seed: int = 0,
) -> None:
    """Write a synthetic classification set in the ImageNet-1k layout mmpretrain reads.

    Each class is one shape in one colour (``COCO_SHAPES``), filling most of the image. Every
    training image also gets a token-labeling map where upstream's README puts them
    (``label_top5_train_nfnet/<wnid>/<name>.pt``, see :mod:`vitdense.datasets.token_label`), as a
    teacher at 576 px on the centred square would make it: its class on top wherever the shape is,
    less sure elsewhere.

    Args:
        root: Destination (e.g. ``data/imagenet``).
        num_train: Images in ``train`` (spread over the classes).
        num_val: Images in ``val``.
        image_size: (height, width) of every image.
        num_classes: Classes used (labels ``0 .. num_classes - 1``), at most 4.
        seed: Random seed; the same seed writes the same files.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    shapes = list(COCO_SHAPES.values())[:num_classes]
    h, w = image_size
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    for split, count in (('train', num_train), ('val', num_val)):
        lines = []
        for index in range(1, count + 1):
            label = (index - 1) % len(shapes)
            img = _background(rng, h, w)
            r = rng.uniform(0.3, 0.45) * min(h, w)
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            _draw(
                img, _polygon(shapes[label].shape, cx, cy, r, rng.uniform(0, math.pi / 6)), shapes[label], rng
            )
            wnid = f'n{label:08d}'
            name = f'{wnid}/{wnid}_{index}.JPEG' if split == 'train' else f'ILSVRC2012_val_{index:08d}.JPEG'
            (root / split / osp.dirname(name)).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / split / name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines.append(f'{name} {label}')
            if split == 'train':
                label_map = _token_label_map(rng, label, (h, w), (cx, cy, r))
                path = root / 'label_top5_train_nfnet' / f'{wnid}/{wnid}_{index}.pt'
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(label_map, path)
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')


def _token_label_map(
    rng: np.random.Generator, label: int, image_size: Sequence[int], disc: Sequence[float], cells: int = 18
) -> torch.Tensor:
    """A (2, 5, cells, cells) float16 top-5 map (logits, class indices) over the image's centred square."""
    h, w = image_size
    cx, cy, r = disc
    side = min(h, w)
    centres = (np.arange(cells) + 0.5) * side / cells
    ys, xs = np.meshgrid(centres + (h - side) / 2, centres + (w - side) / 2, indexing='ij')
    inside = (xs - cx) ** 2 + (ys - cy) ** 2 < r**2
    logits = np.where(
        inside[None],
        [[[8.0]], [[3.0]], [[2.0]], [[1.0]], [[0.0]]],
        [[[2.0]], [[1.5]], [[1.0]], [[0.5]], [[0.0]]],
    )
    logits = logits + rng.normal(0, 0.1, logits.shape)
    others = (label + 1 + np.arange(4)) % 1000
    indices = np.broadcast_to(np.array([label, *others], np.float64)[:, None, None], logits.shape)
    return torch.from_numpy(np.stack([logits, indices])).half()


def imagenet_exists(root: str | Path) -> bool:
    """Whether ``root`` already holds both ImageNet annotation lists."""
    return all(osp.isfile(osp.join(root, 'meta', f'{s}.txt')) for s in ('train', 'val'))


def coco_exists(root: str | Path) -> bool:
    """Whether ``root`` already holds both COCO annotation files."""
    return all(osp.isfile(osp.join(root, 'annotations', f'instances_{s}2017.json')) for s in ('train', 'val'))


def ade20k_exists(root: str | Path) -> bool:
    """Whether ``root`` already holds the four ADE20K folders."""
    return all(
        osp.isdir(osp.join(root, kind, split))
        for kind in ('images', 'annotations')
        for split in ('training', 'validation')
    )
