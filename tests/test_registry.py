"""``type='LITv2'`` resolves from mmdet, mmseg and mmpretrain, in their own configs."""

from __future__ import annotations

import pytest
import torch
from conftest import registered_backbones
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from vitdense.models.backbones import LITv2
from vitdense.utils.launch import load_config


def registry(scope: str):
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return MODELS


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_backbone_resolves_in_every_scope(scope) -> None:
    init_default_scope(scope)
    model = registry(scope).build(dict(type='LITv2', arch='s'))
    assert isinstance(model, LITv2)
    assert DefaultScope.get_current_instance().scope_name == scope


def test_custom_imports_alone_registers(tmp_path) -> None:
    """What a user adds to an existing project: one custom_imports line."""
    path = tmp_path / 'cfg.py'
    path.write_text(
        "custom_imports = dict(imports=['vitdense'], allow_failed_imports=False)\n"
        "model = dict(type='LITv2', arch='m', out_indices=(2, 3))\n"
    )
    cfg = Config.fromfile(str(path))
    init_default_scope('mmdet')
    assert registry('mmdet').build(cfg.model).out_channels == [384, 768]


# mmdet detectors: only `backbone=` and the neck's in_channels change.
DETECTORS = {
    'cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py': (0, 1, 2, 3),
    'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py': (0, 1, 2, 3),
    'atss/atss_r50_fpn_1x_coco.py': (0, 1, 2, 3),
    'dino/dino-4scale_r50_8xb2-12e_coco.py': (1, 2, 3),
}


@pytest.mark.parametrize('config,out_indices', DETECTORS.items())
def test_mmdet_detectors_take_the_backbone(config, out_indices) -> None:
    from mmdet.structures import DetDataSample

    cfg = load_config(f'mmdet::{config}')
    backbone = dict(type='LITv2', arch='s', out_indices=out_indices)
    cfg.model.backbone = backbone
    model_backbone = LITv2(**{k: v for k, v in backbone.items() if k != 'type'})
    cfg.model.neck.in_channels = model_backbone.out_channels
    init_default_scope('mmdet')
    model = registry('mmdet').build(cfg.model).eval()
    size = 256  # DINO selects 900 queries among the encoder tokens
    meta = dict(img_shape=(size, size), pad_shape=(size, size), batch_input_shape=(size, size))
    sample = DetDataSample(metainfo=dict(meta, ori_shape=(size, size), scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        results = model(torch.randn(1, 3, size, size), [sample], mode='predict')
    assert len(results) == 1 and 'bboxes' in results[0].pred_instances


SEGMENTORS = [
    'segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    'sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py',
]


@pytest.mark.parametrize('config', SEGMENTORS)
def test_mmseg_heads_take_the_backbone(config) -> None:
    cfg = load_config(f'mmseg::{config}')
    cfg.model.pretrained = None
    cfg.model.backbone = dict(type='LITv2', arch='s')
    channels = LITv2('s').out_channels
    if cfg.model.get('neck'):
        cfg.model.neck.in_channels = channels
    else:
        cfg.model.decode_head.in_channels = channels
    init_default_scope('mmseg')
    model = registry('mmseg').build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 96, 96), mode='tensor')
    assert logits.shape[:2] == (1, 150)


def test_mmpretrain_classifier_takes_the_backbone() -> None:
    init_default_scope('mmpretrain')
    model = (
        registry('mmpretrain')
        .build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='LITv2', arch='s', out_indices=(3,)),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=10, in_channels=768),
            )
        )
        .eval()
    )
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64), mode='tensor').shape == (2, 10)


@pytest.mark.parametrize('cls', registered_backbones(), ids=lambda c: c.__name__)
def test_mmseg_stock_config_takes_any_vitdense_backbone(cls) -> None:
    """A user swaps the backbone of mmseg's stock UperNet and keeps its `pretrained=`, as for mmseg's own."""
    cfg = load_config('mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py')
    assert cfg.model.pretrained == 'open-mmlab://resnet50_v1c'  # mmseg passes it to the backbone
    arch = next(iter(cls.arch_zoo))
    channels = cls(arch=arch).out_channels
    cfg.model.backbone = dict(type=cls.__name__, arch=arch)
    cfg.model.decode_head.in_channels = channels
    cfg.model.auxiliary_head.in_channels = channels[2]
    init_default_scope('mmseg')
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        model = registry('mmseg').build(cfg.model).eval()
    assert model.backbone.init_cfg == dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64), mode='tensor').shape[:2] == (1, 150)


def test_pretrained_argument_is_honoured(tmp_path) -> None:
    source = LITv2('s')
    path = tmp_path / 'litv2.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        model = LITv2('s', pretrained=str(path))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    with pytest.raises(ValueError, match='init_cfg and pretrained'):
        LITv2('s', pretrained=str(path), init_cfg=dict(type='Pretrained', checkpoint=str(path)))
