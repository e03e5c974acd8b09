"""Upstream's released models load as they are, whoever loads them: detectors, segmentors, classifiers.

The files are synthetic, in the exact layouts upstream writes: an mmdet 2.x / mmseg 0.x checkpoint
(``meta`` as those versions write it, the backbone in upstream's dense layout, the neck and heads as
mmdet / mmseg name them, ``optimizer`` and apex ``amp``) and the flat ImageNet classifiers
(``model`` or ``state_dict`` / ``state_dict_ema``).
"""

from __future__ import annotations

import os.path as osp
from collections import OrderedDict

import numpy as np
import pytest
import torch
from conftest import REPO, randomise
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from test_lit import upstream_layout as lit_layout
from test_litv2 import upstream_layout as litv2_layout
from test_sgformer import upstream_layout as sgformer_layout

from vitdense.models.backbones import LIT, CheckpointMismatchError, LITv2, SGFormer
from vitdense.utils.launch import load_config


def build(path: str, **backbone) -> torch.nn.Module:
    cfg = load_config(osp.join(REPO, path))
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.update(backbone)
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
    elif cfg.default_scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return MODELS.build(cfg.model).eval()


def dense_layout(backbone: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The backbone in upstream's dense layout: the classifier's names without its norm and head, the
    output norms ``norm{i}`` as vitdense names them, LIT-S tables at the dense size (no index buffers)."""
    if isinstance(backbone, LITv2):
        state = litv2_layout(backbone)
    else:
        state = lit_layout(backbone)
        own = backbone.state_dict()
        for i, stage in enumerate(backbone.stages):
            for j in range(len(stage.blocks)):
                table = f'stages.{i}.blocks.{j}.attn.relative_position_bias_table'
                if table in own:
                    state[f'layers.{i}.blocks.{j}.attn.relative_position_bias_table'] = own[table].clone()
        if backbone.style == 'pvt':  # the dense LIT-Ti keeps the class-token row of its last table
            state['pos_embed4'][:, 1:] = own['stages.3.pos_embed']
    state = {k: v for k, v in state.items() if not k.startswith(('norm.', 'head.', 'cls_token'))}
    state = {k: v for k, v in state.items() if not k.endswith('relative_position_index')}
    state.update({k: v.clone() for k, v in backbone.state_dict().items() if k.startswith('norm')})
    return state


def mmdet2_checkpoint(model: torch.nn.Module, task: str) -> dict:
    """What mmcv 1.x ``save_checkpoint`` writes for mmdet 2.11 / mmseg 0.13 (upstream's releases)."""
    state = OrderedDict((f'backbone.{k}', v) for k, v in dense_layout(model.backbone).items())
    state.update((k, v.clone()) for k, v in model.state_dict().items() if not k.startswith('backbone.'))
    meta = dict(
        env_info='sys.platform: linux',
        config="model = dict(type='MaskRCNN', backbone=dict(type='LITv2'))",
        seed=0,
        exp_name='x.py',
        epoch=12,
        iter=87960,
        mmcv_version='1.3.8',
        time='Thu Jun 16 12:00:00 2022',
    )
    if task == 'seg':
        from mmseg.datasets import ADE20KDataset

        classes, palette = ADE20KDataset.METAINFO['classes'], ADE20KDataset.METAINFO['palette']
        meta.update(mmseg_version='0.13.0+1234567', CLASSES=classes, PALETTE=[list(c) for c in palette])
        return dict(meta=meta, state_dict=state, optimizer=dict(state={}, param_groups=[]))
    from mmdet.datasets import CocoDataset

    meta.update(mmdet_version='2.11.0a1b2c3d', CLASSES=CocoDataset.METAINFO['classes'])
    amp = OrderedDict(loss_scaler0={'loss_scale': 512.0, 'unskipped': 93})
    return dict(meta=meta, state_dict=state, optimizer=dict(state={}, param_groups=[]), amp=amp)


RELEASED = [
    ('configs/mask_rcnn/litv2_s_fpn_1x_coco.py', 'det'),
    ('configs/retinanet/litv2_s_ws4_fpn_1x_coco.py', 'det'),
    ('configs/sem_fpn/litv2_s_fpn_80k_ade20k.py', 'seg'),
    ('configs/mask_rcnn/lit_ti_fpn_1x_coco.py', 'det'),
    ('configs/retinanet/lit_s_fpn_1x_coco.py', 'det'),
    ('configs/sem_fpn/lit_s_fpn_80k_ade20k.py', 'seg'),
]


@pytest.mark.parametrize('path,task', RELEASED, ids=[p.split('/', 1)[1] for p, _ in RELEASED])
def test_released_dense_model_loads_as_it_is(tmp_path, path, task) -> None:
    source = build(path)
    randomise(source)
    file = tmp_path / 'released.pth'
    torch.save(mmdet2_checkpoint(source, task), file)
    target = build(path)
    load_checkpoint(target, str(file), strict=True)  # what tools/test.py, load_from and the inferencers run
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value, msg=key)


def test_a_file_of_another_size_is_an_error_naming_both(tmp_path) -> None:
    file = tmp_path / 'mask_rcnn_litv2_b_fpn_1x_coco.pth'
    torch.save(mmdet2_checkpoint(build('configs/mask_rcnn/litv2_b_fpn_1x_coco.py'), 'det'), file)
    with pytest.raises(CheckpointMismatchError, match=r"(?s)LITv2\(arch='s'.*shape mismatch.*arch 'b'"):
        load_checkpoint(build('configs/mask_rcnn/litv2_s_fpn_1x_coco.py'), str(file))


def test_a_detection_file_in_a_segmentor_is_an_error(tmp_path) -> None:
    """The segmentation port normalises stage 1 (norm0); a detection file has no such norm."""
    file = tmp_path / 'det.pth'
    torch.save(mmdet2_checkpoint(build('configs/mask_rcnn/litv2_s_fpn_1x_coco.py'), 'det'), file)
    segmentor = build('configs/sem_fpn/litv2_s_fpn_80k_ade20k.py')
    state = torch.load(file, weights_only=False)['state_dict']
    state = {k: v for k, v in state.items() if k.startswith('backbone.')}
    with pytest.raises(CheckpointMismatchError, match=r'(?s)missing \(2\).*norm0\.bias'):
        segmentor.load_state_dict(state, strict=False)


def test_lit_tables_of_another_size_are_an_error(tmp_path) -> None:
    """LIT-S tables for 800 (detection) do not silently become 512 ones (segmentation)."""
    state = {f'backbone.{k}': v for k, v in dense_layout(LIT('s')).items()}
    with pytest.raises(CheckpointMismatchError, match=r'(?s)shape mismatch.*relative_position_bias_table'):
        build('configs/upernet/lit_s_160k_ade20k.py').load_state_dict(state, strict=False)


def test_vitdense_checkpoints_load_unconverted() -> None:
    model = build('configs/mask_rcnn/litv2_s_fpn_1x_coco.py')
    randomise(model)
    again = build('configs/mask_rcnn/litv2_s_fpn_1x_coco.py')
    again.load_state_dict(model.state_dict(), strict=True)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )


# ------------------------------------------------------------------ ImageNet classifiers
def flat_classifier(clf: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The classifier as upstream saves it: backbone keys at the top, the final ``norm`` and ``head``."""
    backbone = clf.backbone
    if isinstance(backbone, LITv2):
        state = litv2_layout(backbone)
    elif isinstance(backbone, SGFormer):
        state = sgformer_layout(backbone)
    else:
        state = lit_layout(backbone)
        if backbone.style == 'pvt':
            state['pos_embed4'] = backbone.stages[3].pos_embed.detach().clone()
            state['cls_token'] = backbone.cls_token.detach().clone()
    norm = getattr(backbone, 'classifier_norm', None)
    if norm:
        state.update(
            {
                f'norm.{p}': getattr(backbone.get_submodule(norm), p).detach().clone()
                for p in ('weight', 'bias')
            }
        )
    state.update(
        {'head.weight': clf.head.fc.weight.detach().clone(), 'head.bias': clf.head.fc.bias.detach().clone()}
    )
    return state


CLASSIFIERS = ['litv2_s_in1k', 'lit_s_in1k', 'lit_ti_in1k', 'sgformer_s_in1k']


@pytest.mark.parametrize('name', CLASSIFIERS)
def test_released_classifier_gives_the_same_logits(tmp_path, name) -> None:
    path = f'configs/imagenet/{name}.py'
    source = build(path, drop_path_rate=0.0)
    randomise(source)
    flat = flat_classifier(source)
    if name.startswith('sgformer'):  # timm's saver: weights and EMA weights, Namespace args
        import argparse

        noise = {k: v + 1 for k, v in flat.items()}
        file = dict(
            state_dict=noise, state_dict_ema=flat, args=argparse.Namespace(model='sgformer_s'), epoch=309
        )
    else:  # Swin-codebase saver: {'model': ...} beside epoch and max_accuracy
        file = dict(model=flat, epoch=299, max_accuracy=82.0)
    torch.save(file, tmp_path / 'released.pth')
    target = build(path, drop_path_rate=0.0)
    if name.startswith('sgformer'):
        from mmengine.runner.checkpoint import _load_checkpoint_to_model

        from vitdense.engine import LoadCheckpointHook

        checkpoint = torch.load(tmp_path / 'released.pth', weights_only=False)
        LoadCheckpointHook(key='state_dict_ema', strict=False).after_load_checkpoint(None, checkpoint)
        _load_checkpoint_to_model(target, checkpoint, strict=True)
    else:
        load_checkpoint(target, str(tmp_path / 'released.pth'), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(target(x, mode='tensor'), source(x, mode='tensor'))


def test_randomise_made_the_classifier_differ_from_its_init() -> None:
    """The logit comparison above can fail: a fresh classifier gives other logits."""
    path = 'configs/imagenet/litv2_s_in1k.py'
    a, b = build(path, drop_path_rate=0.0), build(path, drop_path_rate=0.0)
    randomise(a)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not np.allclose(a(x, mode='tensor').numpy(), b(x, mode='tensor').numpy())


# ------------------------------------------------------------------ inference on a user's image
def load_demo():
    import importlib.util

    spec = importlib.util.spec_from_file_location('image_demo', osp.join(REPO, 'demo', 'image_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMOS = [
    ('configs/mask_rcnn/litv2_s_fpn_1x_coco.py', 'det'),
    ('configs/sem_fpn/litv2_s_fpn_80k_ade20k.py', 'seg'),
    ('configs/imagenet/litv2_s_in1k.py', 'cls'),
]


@pytest.mark.parametrize('path,task', DEMOS, ids=[t for _, t in DEMOS])
def test_image_demo_draws_on_a_photograph(tmp_path, path, task) -> None:
    """A real photograph (matplotlib ships it), upstream's file layout, the inferencers end to end."""
    import matplotlib
    from PIL import Image

    image = osp.join(osp.dirname(matplotlib.__file__), 'mpl-data', 'sample_data', 'grace_hopper.jpg')
    model = build(path, drop_path_rate=0.0)
    randomise(model)
    weights = tmp_path / 'released.pth'
    torch.save(
        dict(model=flat_classifier(model)) if task == 'cls' else mmdet2_checkpoint(model, task), weights
    )
    out = load_demo().infer(image, osp.join(REPO, path), str(weights), str(tmp_path / 'out'), 'cpu', 0.0)
    assert osp.isfile(out) and osp.dirname(out) == str(tmp_path / 'out')
    assert Image.open(out).size == Image.open(image).size


@pytest.mark.slow
def test_tools_test_evaluates_released_files(tmp_path) -> None:
    """tools/test.py CONFIG FILE on upstream-layout files: a Mask R-CNN (mmdet 2.x) and a classifier."""
    from test_tools import FAST_DATA, run_tool

    from vitdense.datasets import make_coco, make_imagenet

    make_coco(tmp_path / 'coco', num_train=2, num_val=2, image_size=(128, 160))
    detector = build('configs/mask_rcnn/litv2_s_fpn_1x_coco.py')
    randomise(detector)
    torch.save(mmdet2_checkpoint(detector, 'det'), tmp_path / 'mask_rcnn_litv2_s_fpn_1x_coco.pth')
    log = run_tool(
        'test.py',
        'configs/mask_rcnn/litv2_s_fpn_1x_coco.py',
        str(tmp_path / 'mask_rcnn_litv2_s_fpn_1x_coco.pth'),
        '--data-root',
        str(tmp_path / 'coco'),
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        'test_dataloader.dataset.pipeline.1.scale=(160,128)',
        *FAST_DATA,
    )
    assert 'converted' in log and 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log

    make_imagenet(tmp_path / 'imagenet', num_train=4, num_val=4, image_size=(96, 128))
    classifier = build('configs/imagenet/litv2_s_in1k.py', drop_path_rate=0.0)
    randomise(classifier)
    torch.save(dict(model=flat_classifier(classifier), epoch=299), tmp_path / 'litv2_s.pth')
    log = run_tool(
        'test.py',
        'configs/imagenet/litv2_s_in1k.py',
        str(tmp_path / 'litv2_s.pth'),
        '--data-root',
        str(tmp_path / 'imagenet'),
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        'test_dataloader.dataset.pipeline.1.scale=64',
        'test_dataloader.dataset.pipeline.2.crop_size=64',
        *FAST_DATA,
    )
    assert 'mapped' in log and 'accuracy/top1' in log and 'accuracy/top5' in log
