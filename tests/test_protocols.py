"""Each training protocol lives once in configs/_base_/protocols, pinned to the upstream file it follows.

The expected values are upstream's, read from the cited files; a protocol edit that drifts
from them fails here. Every model config is a protocol plus a backbone: its optimizer,
schedule, pipelines and batch are its protocol's, except the family deltas listed below.
"""

from __future__ import annotations

import ast
import functools
import glob
import os.path as osp

import pytest
from conftest import REPO, repo_config
from mmengine.config import Config

from vitdense.utils.launch import load_config

PROTOCOLS = osp.join(REPO, 'configs', '_base_', 'protocols')
MODEL_CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))
    if '_base_' not in p and '/demo/' not in p and '/imagenet/' not in p
)


@functools.cache
def protocol(name: str) -> Config:
    return repo_config(osp.relpath(osp.join(PROTOCOLS, f'{name}.py'), REPO))


def plain(value):
    """Config values as plain Python (ConfigDicts to dicts, tuples to lists), for comparison."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def no_decay(cfg: Config) -> dict[str, float]:
    keys = cfg.optim_wrapper.get('paramwise_cfg', {}).get('custom_keys', {})
    return {k: v.decay_mult for k, v in keys.items() if 'decay_mult' in v}


def transforms(pipeline) -> list[str]:
    return [t['type'] for t in pipeline]


COCO_1X_SCHEDULE = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
COCO_3X_SCHEDULE = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
MS_SCALES = [[480 + 32 * i, 1333] for i in range(11)]
MS_CROP = dict(
    type='RandomChoice',
    transforms=[
        [dict(type='RandomChoiceResize', scales=MS_SCALES, keep_ratio=True)],
        [
            dict(type='RandomChoiceResize', scales=[[400, 1333], [500, 1333], [600, 1333]], keep_ratio=True),
            dict(
                type='RandomCrop', crop_type='absolute_range', crop_size=[384, 600], allow_negative_crop=True
            ),
            dict(type='RandomChoiceResize', scales=MS_SCALES, keep_ratio=True),
        ],
    ],
)
POSITION_TABLES = {'absolute_pos_embed', 'relative_position_bias_table', 'pos_embed', 'cls_token'}


def test_coco_1x_mask_rcnn_as_litv2_trained() -> None:
    """ziplab/LITv2 detection/configs/litv2/mask_rcnn_litv2_s_fpn_1x_coco.py (d46323f), mmdet 2.11 bases."""
    cfg = protocol('mask_rcnn_1x_coco')
    assert plain(cfg.optim_wrapper.optimizer) == dict(
        type='AdamW', lr=2e-4, betas=[0.9, 0.999], weight_decay=1e-4
    )
    assert no_decay(cfg) == {'norm': 0.0}
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and 'clip_grad' not in cfg.optim_wrapper  # apex O1
    assert plain(cfg.param_scheduler) == COCO_1X_SCHEDULE and cfg.train_cfg.max_epochs == 12
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    train = cfg.train_dataloader.dataset.pipeline
    assert transforms(train) == [
        'LoadImageFromFile',
        'LoadAnnotations',
        'Resize',
        'RandomFlip',
        'PackDetInputs',
    ]
    assert plain(train[2]) == dict(type='Resize', scale=[1333, 800], keep_ratio=True) and train[3].prob == 0.5
    assert plain(cfg.test_dataloader.dataset.pipeline[1]) == dict(
        type='Resize', scale=[1333, 800], keep_ratio=True
    )
    assert cfg.model.data_preprocessor.pad_size_divisor == 32 and cfg.model.data_preprocessor.bgr_to_rgb
    assert cfg.model.neck.num_outs == 5 and cfg.model.test_cfg.rcnn.score_thr == 0.05


def test_coco_1x_retinanet_as_litv2_trained() -> None:
    """ziplab/LITv2 detection/configs/litv2/retinanet_litv2_s_fpn_1x_coco.py: its `paramwise_cfg` lacks
    `custom_keys`, so mmcv decays every parameter."""
    cfg = protocol('retinanet_1x_coco')
    assert plain(cfg.optim_wrapper.optimizer) == dict(
        type='AdamW', lr=1e-4, betas=[0.9, 0.999], weight_decay=1e-4
    )
    assert no_decay(cfg) == {} and cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert plain(cfg.param_scheduler) == COCO_1X_SCHEDULE and cfg.train_dataloader.batch_size == 2
    neck = cfg.model.neck
    assert (neck.start_level, neck.add_extra_convs, neck.num_outs) == (1, 'on_input', 5)
    assert transforms(cfg.train_dataloader.dataset.pipeline) == [
        'LoadImageFromFile',
        'LoadAnnotations',
        'Resize',
        'RandomFlip',
        'PackDetInputs',
    ]


@pytest.mark.parametrize('name', ['mask_rcnn_3x_ms_crop_coco', 'retinanet_3x_ms_crop_coco'])
def test_coco_3x_multi_scale_crop_as_swin_and_pvtv2_trained(name) -> None:
    """mmdet's swin/mask-rcnn_swin-t-p4-w7_fpn_amp-ms-crop-3x_coco.py = whai362/PVT
    detection/configs/mask_rcnn_pvt_v2_b2_fpn_3x_mstrain.py (which warms up for 500 iterations, in fp32)."""
    cfg = protocol(name)
    assert plain(cfg.optim_wrapper.optimizer) == dict(
        type='AdamW', lr=1e-4, betas=[0.9, 0.999], weight_decay=0.05
    )
    assert no_decay(cfg) == {'norm': 0.0} | dict.fromkeys(POSITION_TABLES, 0.0)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert plain(cfg.param_scheduler) == COCO_3X_SCHEDULE and cfg.train_cfg.max_epochs == 36
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    train = cfg.train_dataloader.dataset.pipeline
    assert transforms(train) == [
        'LoadImageFromFile',
        'LoadAnnotations',
        'RandomFlip',
        'RandomChoice',
        'PackDetInputs',
    ]
    assert plain(train[3]) == MS_CROP and train[2].prob == 0.5
    assert train[1].get('with_mask', False) == name.startswith('mask_rcnn')


def test_retinanet_3x_is_the_mask_rcnn_3x_recipe() -> None:
    """No upstream has a RetinaNet 3x: it must stay the Mask R-CNN recipe without masks."""
    mask, retina = protocol('mask_rcnn_3x_ms_crop_coco'), protocol('retinanet_3x_ms_crop_coco')
    for key in ('param_scheduler', 'train_cfg'):
        assert plain(mask[key]) == plain(retina[key])
    assert plain(mask.optim_wrapper) == plain(retina.optim_wrapper)
    pipeline = plain(mask.train_dataloader.dataset.pipeline)
    pipeline[1].pop('with_mask')
    assert pipeline == plain(retina.train_dataloader.dataset.pipeline)


ADE_TRAIN = ['LoadImageFromFile', 'LoadAnnotations', 'RandomResize', 'RandomCrop', 'RandomFlip']
ADE_TRAIN += ['PhotoMetricDistortion', 'PackSegInputs']


def test_ade20k_semantic_fpn_80k_as_lit_trained() -> None:
    """ziplab/LITv2 segmentation/configs/litv2/litv2_s_fpn_r50_512x512_80k_ade20k.py and ziplab/LIT's twin."""
    cfg = protocol('sem_fpn_80k_ade20k')
    assert plain(cfg.optim_wrapper) == dict(
        type='OptimWrapper',
        constructor='MergedGroupsOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    )
    assert plain(cfg.param_scheduler) == [
        dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=80000, by_epoch=False)
    ]
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval, cfg.default_hooks.checkpoint.interval) == (
        80000,
        8000,
        8000,
    )
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    train = cfg.train_dataloader.dataset.pipeline
    assert transforms(train) == ADE_TRAIN
    assert plain(train[2]) == dict(
        type='RandomResize', scale=[2048, 512], ratio_range=[0.5, 2.0], keep_ratio=True
    )
    assert plain(train[3]) == dict(type='RandomCrop', crop_size=[512, 512], cat_max_ratio=0.75)
    assert plain(cfg.test_dataloader.dataset.pipeline[1]) == dict(
        type='Resize', scale=[2048, 512], keep_ratio=True
    )
    head = cfg.model.decode_head
    assert (head.type, head.channels, head.dropout_ratio, head.num_classes) == ('FPNHead', 128, 0.1, 150)
    assert (
        cfg.model.neck.num_outs == 4 and cfg.model.test_cfg.mode == 'whole' and cfg.model.pretrained is None
    )


def test_ade20k_semantic_fpn_40k_as_pvt_trained() -> None:
    """whai362/PVT segmentation/configs/sem_fpn/PVT/fpn_pvt_s_ade20k_40k.py:
    8 GPUs x 4 images, twice the lr, AlignResize."""
    cfg = protocol('sem_fpn_40k_ade20k')
    assert plain(cfg.optim_wrapper) == dict(
        type='OptimWrapper',
        constructor='MergedGroupsOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    )
    assert plain(cfg.param_scheduler) == [
        dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40000, by_epoch=False)
    ]
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (40000, 4000)
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 32
    assert transforms(cfg.train_dataloader.dataset.pipeline) == ADE_TRAIN
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        test = loader.dataset.pipeline
        assert transforms(test) == [
            'LoadImageFromFile',
            'Resize',
            'ResizeToMultiple',
            'LoadAnnotations',
            'PackSegInputs',
        ]
        assert test[2].size_divisor == 32


@pytest.mark.parametrize(
    'name,iters,interval', [('upernet_160k_ade20k', 160000, 16000), ('upernet_40k_ade20k', 40000, 4000)]
)
def test_ade20k_upernet_as_swin_and_xcit_trained(name, iters, interval) -> None:
    """mmseg's swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py =
    facebookresearch/xcit semantic_segmentation/configs/xcit/upernet/upernet_xcit_small_12_p16_160k_ade20k.py
    (160k; the 40k is the Context Broadcasting paper's short schedule)."""
    cfg = protocol(name)
    assert plain(cfg.optim_wrapper.optimizer) == dict(
        type='AdamW', lr=6e-5, betas=[0.9, 0.999], weight_decay=0.01
    )
    assert no_decay(cfg) == {'norm': 0.0} | dict.fromkeys(POSITION_TABLES, 0.0)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'clip_grad' not in cfg.optim_wrapper
    assert plain(cfg.param_scheduler) == [
        dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
        dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=iters, by_epoch=False),
    ]
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval, cfg.default_hooks.checkpoint.interval) == (
        iters,
        interval,
        interval,
    )
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    assert transforms(cfg.train_dataloader.dataset.pipeline) == ADE_TRAIN
    assert (cfg.model.decode_head.channels, cfg.model.auxiliary_head.loss_decode.loss_weight) == (512, 0.4)


# ------------------------------------------------------------------ model configs are protocol + backbone
def bases(path: str) -> list[str]:
    """The `_base_` of a config file, read without running it."""
    tree = ast.parse(open(osp.join(REPO, path)).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


#: What a family changes in its protocol, with the upstream reason (see each config's comment).
FAMILY_DELTAS = {
    # ziplab/LIT detection/configs/lit/*lit_ti*: fp32, no parameter-wise rule
    ('lit_ti', '1x'): {'optim_wrapper'},
}


@pytest.mark.parametrize('name', sorted(osp.basename(p)[:-3] for p in glob.glob(osp.join(PROTOCOLS, '*.py'))))
def test_protocol_merges_equal_param_groups(name) -> None:
    """A param group per distinct setting, not one per parameter (MergedGroupsOptimWrapperConstructor)."""
    assert protocol(name).optim_wrapper.constructor == 'MergedGroupsOptimWrapperConstructor'


@pytest.mark.parametrize(
    ('name', 'mmdet_base'),
    [
        ('mask_rcnn_1x_coco', 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'),
        ('mask_rcnn_3x_ms_crop_coco', 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_amp-ms-crop-3x_coco.py'),
    ],
)
def test_two_stage_protocols_sample_as_mmdet_on_the_gpu(name, mmdet_base) -> None:
    """RPN and RoI head sample mmdet's numbers and fractions, with the permutation drawn on the GPU."""
    cfg, base = protocol(name).model.train_cfg, load_config(mmdet_base).model.train_cfg
    expected = plain(base)
    for stage in ('rpn', 'rcnn'):
        assert expected[stage]['sampler']['type'] == 'RandomSampler'
        expected[stage]['sampler']['type'] = 'OnDeviceRandomSampler'
    assert plain(cfg) == expected


@pytest.mark.parametrize('path', MODEL_CONFIGS)
def test_model_config_is_a_protocol_plus_a_backbone(path) -> None:
    """Its protocol's optimizer, schedule, pipelines and batch; its init checkpoint replaceable from the
    command line (`--cfg-options model.backbone.init_cfg.checkpoint=PATH`)."""
    first, *rest = bases(path)
    assert first.startswith('../_base_/protocols/') and osp.isfile(osp.join(REPO, 'configs', first[3:]))
    assert rest and all(b.startswith('../_base_/backbones/') for b in rest), (
        'no config inherits a model config'
    )
    cfg, base = repo_config(path), protocol(osp.basename(first)[:-3])
    name = osp.basename(path)
    family = next((k for k in FAMILY_DELTAS if name.startswith(k[0] + '_') and f'_{k[1]}_' in name), None)
    allowed = FAMILY_DELTAS.get(family, set())
    for key in ('param_scheduler', 'train_cfg', 'auto_scale_lr'):
        assert plain(cfg[key]) == plain(base[key]), key
    assert plain(cfg.model.get('train_cfg')) == plain(base.model.get('train_cfg')), 'its sampling, assigners'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert plain(cfg[key].dataset.pipeline) == plain(base[key].dataset.pipeline)
        assert cfg[key].batch_size == base[key].batch_size
    if 'optim_wrapper' not in allowed:
        assert plain(cfg.optim_wrapper.optimizer) == plain(base.optim_wrapper.optimizer)
        assert cfg.optim_wrapper.type == base.optim_wrapper.type
        assert cfg.optim_wrapper.constructor == base.optim_wrapper.constructor
        assert no_decay(base).items() <= no_decay(cfg).items(), (
            'a family adds no-decay rules, keeps the protocol'
        )
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': 'mine.pth'})
    assert (
        cfg.model.backbone.init_cfg.type == 'Pretrained'
        and cfg.model.backbone.init_cfg.checkpoint == 'mine.pth'
    )
