"""Every config parses, builds, and its backbone channels line up with neck and heads."""

from __future__ import annotations

import glob
import os.path as osp

import pytest
import torch
from conftest import REPO
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from vitdense.utils.launch import load_config

CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p
)


def build_model(cfg):
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model).eval()


def test_there_are_configs() -> None:
    families = {osp.basename(osp.dirname(c)) for c in CONFIGS}
    assert {'mask_rcnn', 'retinanet', 'sem_fpn', 'upernet'} <= families


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_and_channels_line_up(path) -> None:
    cfg = load_config(osp.join(REPO, path))
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
    """8 GPUs x 2 images: the base batch that --auto-scale-lr scales from."""
    cfg = load_config(osp.join(REPO, path))
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_dataloader.batch_size == 2


EXPECTED_OPTIM = {
    'mask_rcnn/litv2_s_fpn_1x_coco.py': (2e-4, 1e-4, 12),
    'mask_rcnn/litv2_s_fpn_3x_coco.py': (1e-4, 0.05, 36),
    'retinanet/litv2_s_fpn_1x_coco.py': (1e-4, 1e-4, 12),
    'retinanet/litv2_b_fpn_3x_coco.py': (1e-4, 0.05, 36),
    'sem_fpn/litv2_s_fpn_80k_ade20k.py': (1e-4, 1e-4, 80000),
    'sem_fpn/litv2_m_fpn_40k_ade20k.py': (1e-4, 1e-4, 40000),
    'upernet/litv2_s_160k_ade20k.py': (6e-5, 0.01, 160000),
    'upernet/litv2_b_40k_ade20k.py': (6e-5, 0.01, 40000),
    'mask_rcnn/lit_ti_fpn_1x_coco.py': (2e-4, 1e-4, 12),
    'retinanet/lit_s_fpn_1x_coco.py': (1e-4, 1e-4, 12),
    'sem_fpn/lit_ti_fpn_80k_ade20k.py': (1e-4, 1e-4, 80000),
    'upernet/lit_b_160k_ade20k.py': (6e-5, 0.01, 160000),
}


@pytest.mark.parametrize('path,expected', EXPECTED_OPTIM.items())
def test_hyper_parameters_follow_reference(path, expected) -> None:
    lr, weight_decay, length = expected
    cfg = load_config(osp.join(REPO, 'configs', path))
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.optimizer.weight_decay == weight_decay
    assert cfg.train_cfg.get('max_epochs', cfg.train_cfg.get('max_iters')) == length
    assert cfg.param_scheduler[-1].end == length
