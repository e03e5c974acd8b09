"""tools/train.py -> checkpoint -> --resume -> tools/test.py on tiny synthetic data."""

from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from conftest import REPO

from vitdense.datasets import make_ade20k, make_coco
from vitdense.utils import load_from_local
from vitdense.utils.launch import check_datasets, load_config, redirect_data_root

FAST_DATA = [
    f'{loader}.num_workers=0' for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
] + [
    f'{loader}.persistent_workers=False'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
]
#: ADE20K configs at 64 x 64 crops of 128 x 64 images (the pipelines of mmseg's ADE20K base)
SMALL_ADE20K = [
    'crop_size=(64,64)',
    'model.data_preprocessor.size=(64,64)',
    'train_dataloader.dataset.pipeline.2.scale=(128,64)',
    'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    'val_dataloader.dataset.pipeline.1.scale=(128,64)',
    'test_dataloader.dataset.pipeline.1.scale=(128,64)',
]


def run_tool(tool: str, *args: str) -> str:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', tool), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    return output


@pytest.mark.slow
def test_mask_rcnn_train_resume_test(tmp_path) -> None:
    data, work = tmp_path / 'coco', tmp_path / 'work'
    make_coco(data, num_train=6, num_val=3, image_size=(128, 160))
    config = 'configs/mask_rcnn/litv2_s_fpn_1x_coco.py'
    options = [
        'model.backbone.init_cfg=None',
        'model.test_cfg.rcnn.score_thr=0.0',
        'train_dataloader.dataset.pipeline.2.scale=(160,128)',
        'val_dataloader.dataset.pipeline.1.scale=(160,128)',
        'test_dataloader.dataset.pipeline.1.scale=(160,128)',
        *FAST_DATA,
    ]
    common = ['--work-dir', str(work), '--data-root', str(data)]
    log = run_tool(
        'train.py', config, *common, '--auto-scale-lr', '--cfg-options', 'train_cfg.max_epochs=1', *options
    )
    assert 'Epoch(train) [1][3/3]' in log and 'loss_mask' in log
    assert 'current batch size is 2. Scaling the original LR by 0.125' in log  # base batch 16
    assert (work / 'epoch_1.pth').is_file()

    log = run_tool(
        'train.py', config, *common, '--resume', '--cfg-options', 'train_cfg.max_epochs=2', *options
    )
    assert 'resumed epoch: 1, iter: 3' in log and 'refusing to load' not in log
    assert 'Epoch(train) [2][3/3]' in log and 'Epoch(train) [1]' not in log
    checkpoint = load_from_local(str(work / 'epoch_2.pth'))
    assert checkpoint['meta']['epoch'] == 2 and checkpoint['meta']['iter'] == 6

    metrics_file = work / 'metrics.json'
    log = run_tool(
        'test.py',
        config,
        str(work / 'epoch_2.pth'),
        *common,
        '--out-metrics',
        str(metrics_file),
        '--cfg-options',
        *options,
    )
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    metrics = json.loads(metrics_file.read_text())
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0 and 'coco/segm_mAP' in metrics


@pytest.mark.slow
def test_upernet_train_resume_test(tmp_path) -> None:
    data, work = tmp_path / 'ade', tmp_path / 'work'
    make_ade20k(data, num_train=4, num_val=2, image_size=(96, 128))
    config = 'configs/upernet/litv2_s_160k_ade20k.py'
    options = [
        'model.backbone.init_cfg=None',
        *SMALL_ADE20K,
        'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
        *FAST_DATA,
    ]
    common = ['--work-dir', str(work), '--data-root', str(data)]
    log = run_tool('train.py', config, *common, '--cfg-options', 'train_cfg.max_iters=2', *options)
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log
    log = run_tool(
        'train.py', config, *common, '--resume', '--cfg-options', 'train_cfg.max_iters=4', *options
    )
    assert (
        'resumed epoch: 0, iter: 2' in log and 'Iter(train) [4/4]' in log and 'Iter(train) [1/4]' not in log
    )
    log = run_tool(
        'test.py',
        config,
        str(work / 'iter_4.pth'),
        *common,
        '--out-metrics',
        str(work / 'metrics.json'),
        '--cfg-options',
        *options,
    )
    assert 'mIoU' in log
    assert 0.0 <= json.loads((work / 'metrics.json').read_text())['mIoU'] <= 100.0


def test_missing_dataset_names_path_and_synthetic_command(tmp_path) -> None:
    cfg = load_config(osp.join(REPO, 'configs/mask_rcnn/litv2_s_fpn_1x_coco.py'))
    redirect_data_root(cfg, str(tmp_path / 'nowhere'))
    with pytest.raises(
        FileNotFoundError,
        match=r'(?s)nowhere/annotations/instances_train2017.json.*make_synthetic_data.py coco',
    ):
        check_datasets(cfg, ('train_dataloader',))


def test_redirect_moves_evaluator_ann_file(tmp_path) -> None:
    cfg = load_config(osp.join(REPO, 'configs/mask_rcnn/litv2_s_fpn_1x_coco.py'))
    redirect_data_root(cfg, str(tmp_path))
    assert cfg.val_evaluator.ann_file == osp.join(str(tmp_path), 'annotations/instances_val2017.json')
    assert cfg.test_dataloader.dataset.data_root == str(tmp_path) + '/'


def test_synthetic_coco_layout(tmp_path) -> None:
    make_coco(tmp_path, num_train=3, num_val=2, image_size=(64, 80))
    for split, count in (('train2017', 3), ('val2017', 2)):
        with open(tmp_path / 'annotations' / f'instances_{split}.json') as f:
            ann = json.load(f)
        assert len(ann['images']) == count == len(list((tmp_path / split).glob('*.jpg')))
        assert len(ann['categories']) == 80 and ann['annotations']
        for a in ann['annotations']:
            x, y, w, h = a['bbox']
            assert w > 0 and h > 0 and x + w <= 80 and y + h <= 64 and a['area'] > 0


def test_synthetic_sets_vary_size(tmp_path) -> None:
    """--vary-size: each image gets its own size, and COCO's annotation file records it."""
    import cv2

    make_coco(tmp_path / 'coco', num_train=6, num_val=1, image_size=(64, 80), vary_size=True)
    with open(tmp_path / 'coco/annotations/instances_train2017.json') as f:
        ann = json.load(f)
    sizes = set()
    for image in ann['images']:
        shape = cv2.imread(str(tmp_path / 'coco/train2017' / image['file_name'])).shape[:2]
        assert shape == (image['height'], image['width'])
        assert max(shape) == 80 and min(shape) >= 45
        sizes.add(shape)
    assert len(sizes) > 1
    images = {image['id']: image for image in ann['images']}
    for a in ann['annotations']:
        x, y, w, h = a['bbox']
        assert x + w <= images[a['image_id']]['width'] and y + h <= images[a['image_id']]['height']
    make_ade20k(tmp_path / 'ade', num_train=6, num_val=1, image_size=(48, 64), vary_size=True)
    shapes = set()
    for image in sorted((tmp_path / 'ade/images/training').glob('*.jpg')):
        labels = cv2.imread(
            str(tmp_path / 'ade/annotations/training' / f'{image.stem}.png'), cv2.IMREAD_UNCHANGED
        )
        assert cv2.imread(str(image)).shape[:2] == labels.shape
        shapes.add(labels.shape)
    assert len(shapes) > 1


def test_synthetic_ade20k_layout(tmp_path) -> None:
    import cv2

    make_ade20k(tmp_path, num_train=2, num_val=1, image_size=(48, 64))
    labels = cv2.imread(str(tmp_path / 'annotations/training/ADE_train_00000001.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (48, 64) and labels.dtype.name == 'uint8'
    assert set(labels.flatten().tolist()) <= {1, 4, 5, 8, 20, 21} and len(set(labels.flatten().tolist())) >= 2
    assert (tmp_path / 'images/validation/ADE_val_00000001.jpg').is_file()
