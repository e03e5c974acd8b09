"""Every config parses, builds, and its backbone channels line up with neck and heads."""

from __future__ import annotations

import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from conftest import REPO, repo_config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from vitdense.datasets.token_label import token_label_array

ALL_CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p
)
CONFIGS = [c for c in ALL_CONFIGS if '/imagenet/' not in c]
IMAGENET = [c for c in ALL_CONFIGS if '/imagenet/' in c]
#: A 3x config whose 1x sibling exists builds the same model (checked below, cheaply): building
#: it again adds nothing, so it runs with the sweeps.
LONGER_SCHEDULES = {
    c: c.replace('_3x_', '_1x_') for c in CONFIGS if '_3x_' in c and c.replace('_3x_', '_1x_') in CONFIGS
}
#: Larger sizes run the code of their family's small size: by default their backbones are built on
#: the meta device and only their channels are checked against neck and heads (the sweeps run them).
LARGER_SIZES = [c for c in CONFIGS if re.search(r'_(m|b|l|h-b|h-l)_', osp.basename(c))]


def build_model(cfg):
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model).eval()


def test_there_are_configs() -> None:
    families = {osp.basename(osp.dirname(c)) for c in ALL_CONFIGS}
    assert {'mask_rcnn', 'retinanet', 'sem_fpn', 'upernet', 'imagenet'} <= families


@pytest.mark.parametrize('path', IMAGENET)
def test_imagenet_classifier_trains_a_step(path) -> None:
    """Every ImageNet config builds; its classifier runs forward (logits) and backward (gradients)."""
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    cfg = repo_config(path)
    assert 'vitdense' in cfg.custom_imports.imports and cfg.default_scope == 'mmpretrain'
    init_default_scope('mmpretrain')
    cfg.model.backbone.drop_path_rate = 0.0
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))  # as mmengine's Runner does
    model = MODELS.build(cfg.model).train()
    inputs = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label(label) for label in (0, 3)]
    if cfg.model.head.type == 'TokenLabelClsHead':  # what the token-labeling pipeline packs
        for sample in samples:
            label_map = torch.stack([torch.randn(5, 18, 18), torch.randint(0, 1000, (5, 18, 18)).float()])
            sample.set_field(token_label_array(label_map), 'token_label')
            sample.set_field(np.array([0.1, 0.2, 0.9, 0.7], np.float32), 'token_label_crop')
    data = model.data_preprocessor(
        {'inputs': list(inputs.mul(50).add(120).to(torch.uint8)), 'data_samples': samples}, True
    )
    loss = sum(v for k, v in model(**data, mode='loss').items() if k.startswith('loss'))
    loss.backward()
    assert torch.isfinite(loss) and model.head.fc.weight.grad.abs().sum() > 0
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024


def test_longer_schedules_build_the_models_of_their_1x_configs() -> None:
    assert len(LONGER_SCHEDULES) >= 20
    for path, sibling in LONGER_SCHEDULES.items():
        models = [repo_config(p).model.to_dict() for p in (path, sibling)]
        for model in models:
            model['backbone'].pop('init_cfg', None)  # the 3x ones may start from other weights
        assert models[0] == models[1], path


@pytest.mark.parametrize('path', [c for c in LARGER_SIZES if c not in LONGER_SCHEDULES])
def test_larger_size_channels_line_up(path) -> None:
    from mmengine.registry import MODELS

    cfg = repo_config(path)
    cfg.model.backbone.pop('init_cfg', None)
    with torch.device('meta'):  # shapes only: no weights initialised, nothing run
        channels = list(MODELS.build(cfg.model.backbone).out_channels)
    neck = cfg.model.get('neck')
    if neck is not None:
        first = neck[0] if isinstance(neck, list) else neck
        expected = first.in_channels
        assert (expected if isinstance(expected, list) else [expected] * len(channels)) == channels
    else:
        assert list(cfg.model.decode_head.in_channels) == channels
    if cfg.model.get('auxiliary_head'):
        assert cfg.model.auxiliary_head.in_channels == channels[cfg.model.auxiliary_head.in_index]


@pytest.mark.parametrize(
    'path',
    [
        pytest.param(c, marks=pytest.mark.sweep) if c in LONGER_SCHEDULES or c in LARGER_SIZES else c
        for c in CONFIGS
    ],
)
def test_config_builds_and_channels_line_up(path) -> None:
    cfg = repo_config(path)
    assert 'vitdense' in cfg.custom_imports.imports
    assert cfg.default_scope in ('mmdet', 'mmseg')
    model = build_model(cfg)
    backbone = model.backbone
    size = 96
    inputs = torch.randn(1, 3, size, size)
    with torch.no_grad():
        channels = [out.shape[1] for out in backbone(inputs)]
    # vitdense backbones declare their channels; the OpenMMLab baselines do not
    assert getattr(backbone, 'out_channels', channels) == channels
    neck = cfg.model.get('neck')
    first_neck = neck[0] if isinstance(neck, list) else neck
    if first_neck is not None:
        expected = first_neck.in_channels
        assert (expected if isinstance(expected, list) else [expected] * len(channels)) == channels
    if cfg.default_scope == 'mmdet':
        from mmdet.structures import DetDataSample

        meta = dict(img_shape=(size, size), pad_shape=(size, size), batch_input_shape=(size, size))
        sample = DetDataSample(metainfo=dict(meta, ori_shape=(size, size), scale_factor=(1.0, 1.0)))
        with torch.no_grad():
            outs = model(inputs, [sample], mode='tensor')
        assert outs and all(torch.isfinite(t).all() for t in _tensors(outs))
    else:
        from mmseg.structures import SegDataSample

        head = cfg.model.decode_head
        if neck is None:
            assert list(head.in_channels) == channels
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), pad_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=torch.zeros(1, size, size, dtype=torch.long))
        with torch.no_grad():
            logits = model(inputs, [sample], mode='tensor')
            assert logits.shape[1] == head.num_classes == 150
            if cfg.model.get('auxiliary_head'):
                aux = cfg.model.auxiliary_head
                feats = model.extract_feat(inputs)
                assert aux.in_channels == feats[aux.in_index].shape[1]
                model.auxiliary_head(feats)


def _tensors(outs):
    if isinstance(outs, torch.Tensor):
        yield outs
    elif isinstance(outs, list | tuple):
        for item in outs:
            yield from _tensors(item)


@pytest.mark.parametrize('path', [c for c in CONFIGS if '/demo/' not in c])
def test_protocol_batch_and_lr_scaling(path) -> None:
    """8 GPUs x the loader's images: the base batch that --auto-scale-lr scales from."""
    cfg = repo_config(path)
    assert cfg.auto_scale_lr.base_batch_size == 8 * cfg.train_dataloader.batch_size
