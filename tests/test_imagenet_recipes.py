"""Every ImageNet config is its upstream's training recipe, pinned to the values of the cited files.

The expected values below are upstream's (total batch 1024 everywhere, 8 GPUs x 128 here):
- LITv2 S/M/B: ziplab/LITv2 classification/config.py, configs/litv2-*.yaml, main.py (lr, warm-up
  and floor scaled by batch / 512), optimizer.py (OFFSET_LR_MULTI), lr_scheduler.py (per iteration);
  LITv2-B 384: configs/litv2-base-finetune-384.yaml.
- LIT S/M/B: ziplab/LIT classification/code_for_lit_s_m_b (LITv2's codebase); LIT-Ti:
  code_for_lit_ti/params.py, config/lit-ti.json, main.py (per epoch, RASampler, cls_token only exempt).
- SG-Former: OliverRensu/SG-Former README's command and main.py (timm train script: 300 + 10
  cooldown epochs, EMA, crop 0.9).
- SpectFormer: badripatro/SpectFormers hierarchical_architecture/main.py and configs/spectformer/*.py.
- CBViT: facebookresearch/deit main.py (the Context Broadcasting paper's recipe).
"""

from __future__ import annotations

import glob
import os.path as osp

import pytest
import torch
from conftest import REPO
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from vitdense.engine import TimmCosineLR
from vitdense.utils.launch import load_config

IMAGENET = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', 'imagenet', '*.py')))

SWIN_CODEBASE = dict(  # LITv2 / LIT-S/M/B
    epochs=300, lr=1e-3, wd=0.05, clip=5.0, t_initial=300, warmup=20, warmup_lr=1e-6, min_lr=1e-5, lag=1,
    per_iter=True, sampler='DefaultSampler', ema=None, eval=('ResizeEdge', 256), mixup=True,
    no_decay={'.relative_position_bias_table'}, offset_lr=0.01,
)  # fmt: skip
DEIT = dict(
    epochs=300, lr=1e-3, wd=0.05, clip=None, t_initial=300, warmup=5, warmup_lr=1e-6, min_lr=1e-5, lag=1,
    per_iter=False, sampler='RepeatAugSampler', ema=None, eval=('ResizeEdge', 256), mixup=True,
    no_decay={'backbone.pos_embed', 'backbone.cls_token'}, offset_lr=None,
)  # fmt: skip
RECIPES = {
    'litv2': SWIN_CODEBASE,
    'lit_ti': dict(DEIT, no_decay={'backbone.cls_token'}, offset_lr=0.01),
    'lit': SWIN_CODEBASE,
    'sgformer': dict(
        DEIT, epochs=310, warmup=20, lag=0, sampler='DefaultSampler', ema=8e-5, eval=('ResizeEdge', 248),
        no_decay=set(),
    ),
    'spectformer_tl': dict(
        DEIT, epochs=310, t_initial=310, sampler='DefaultSampler', eval=('ResizeEdge', 233), mixup=False,
        no_decay=set(),
    ),
    'spectformer': dict(DEIT, epochs=310, t_initial=310, no_decay=set()),
    'cbvit': DEIT,
}  # fmt: skip
DROP_PATH = {
    'litv2_s': 0.2, 'litv2_m': 0.3, 'litv2_b': 0.5, 'lit_ti': 0.1, 'lit_s': 0.2, 'lit_m': 0.3, 'lit_b': 0.5,
    'sgformer_s': 0.1, 'sgformer_m': 0.2, 'sgformer_b': 0.4,
    'spectformer_h-s': 0.1, 'spectformer_h-b': 0.1, 'spectformer_h-l': 0.3,
}  # fmt: skip


def cpu_optim_wrapper(cfg):
    """The recipe's optimizer wrapper without mixed precision (which needs a GPU)."""
    return {k: v for k, v in cfg.optim_wrapper.items() if k != 'loss_scale'} | dict(type='OptimWrapper')


def recipe_of(name: str) -> dict:
    if name.startswith('spectformer') and name.endswith('_tl'):
        return RECIPES['spectformer_tl']
    return RECIPES[next(k for k in RECIPES if name.startswith(k))]


@pytest.mark.parametrize('path', [p for p in IMAGENET if '_384_' not in p])
def test_recipe_is_upstreams(path) -> None:
    name = osp.basename(path)[: -len('_in1k.py')]
    expected = recipe_of(name)
    cfg = load_config(osp.join(REPO, path))
    assert cfg.train_cfg.max_epochs == expected['epochs']
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.train_dataloader.drop_last
    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper' and optim.constructor == 'MergedGroupsOptimWrapperConstructor'
    assert (
        optim.optimizer.type == 'AdamW'
        and optim.optimizer.betas == (0.9, 0.999)
        and optim.optimizer.eps == 1e-8
    )
    assert (optim.optimizer.lr, optim.optimizer.weight_decay) == (expected['lr'], expected['wd'])
    clip = 1.0 if name.startswith('spectformer_h-l') else expected['clip']
    assert (optim.get('clip_grad') or {}).get('max_norm') == clip
    [schedule] = cfg.param_scheduler
    assert schedule.type == 'TimmCosineLR' and schedule.by_epoch
    assert (schedule.t_initial, schedule.warmup_steps, schedule.warmup_lr, schedule.min_lr, schedule.lag) == (
        expected['t_initial'],
        expected['warmup'],
        expected['warmup_lr'],
        expected['min_lr'],
        expected['lag'],
    )
    assert schedule.get('convert_to_iter_based', False) == expected['per_iter']
    assert cfg.train_dataloader.sampler.type == expected['sampler']
    if expected['sampler'] == 'RepeatAugSampler':
        assert cfg.train_dataloader.sampler.num_repeats == 3
    ema = [h for h in cfg.get('custom_hooks', []) if h.type == 'EMAHook']
    assert [h.momentum for h in ema] == ([expected['ema']] if expected['ema'] else [])
    # no weight decay on norms, biases and other 1-D parameters (timm's rule), plus the named tables
    paramwise = optim.paramwise_cfg
    assert paramwise.norm_decay_mult == paramwise.bias_decay_mult == paramwise.flat_decay_mult == 0.0
    keys = paramwise.get('custom_keys', {})
    assert {k for k, v in keys.items() if v.get('decay_mult') == 0.0} - {'conv_offset.bias'} == expected[
        'no_decay'
    ]
    assert keys.get('conv_offset.weight', {}).get('lr_mult') == expected['offset_lr']
    # augmentation: timm's RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25; Mixup / CutMix as upstream
    train = cfg.train_dataloader.dataset.pipeline
    flat = [t for t in train if t.type != 'RandomChoice'] + [
        s for t in train if t.type == 'RandomChoice' for s in t.transforms[0]
    ]
    [augment] = [t for t in flat if t.type.endswith('RandAugment')]
    assert (augment.policies, augment.num_policies, augment.magnitude_level, augment.magnitude_std) == (
        'timm_increasing',
        2,
        9,
        0.5,
    )
    [erase] = [t for t in flat if t.type == 'RandomErasing']
    assert (erase.erase_prob, erase.mode) == (0.25, 'rand')
    augments = (cfg.model.get('train_cfg') or {}).get('augments')
    if expected['mixup']:
        assert augments == [dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]
        assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    else:
        assert not augments and cfg.model.head.smoothing == 0.1
    test = cfg.val_dataloader.dataset.pipeline
    resize, crop = test[1], test[2]
    assert (resize.type, resize.scale) == expected['eval'] and resize.interpolation == 'bicubic'
    assert crop == dict(type='CenterCrop', crop_size=224)
    base = (
        name.replace('_tl', '')
        .split('_alpha')[0]
        .replace('cbvit_cb_', 'cbvit_')
        .replace('cbvit_cbs_', 'cbvit_')
    )
    base = base.replace('cbvit_cby_', 'cbvit_')
    assert cfg.model.backbone.drop_path_rate == DROP_PATH.get(base, 0.1)


def test_litv2_b_384_finetune_is_upstreams() -> None:
    """configs/litv2-base-finetune-384.yaml: 30 epochs from LITv2-B at 384, lr / warm-up / floor scaled."""
    cfg = load_config(osp.join(REPO, 'configs/imagenet/litv2_b_384_in1k.py'))
    assert cfg.train_cfg.max_epochs == 30
    assert (cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay) == (4e-5, 1e-8)
    [s] = cfg.param_scheduler
    assert (s.t_initial, s.warmup_steps, s.warmup_lr, s.min_lr, s.convert_to_iter_based) == (
        30,
        5,
        4e-8,
        4e-7,
        True,
    )
    assert cfg.model.backbone.drop_path_rate == 0.5
    test = cfg.val_dataloader.dataset.pipeline  # TEST.CROP False: the whole image resized to 384 x 384
    assert [t.type for t in test] == ['LoadImageFromFile', 'Resize', 'PackInputs'] and test[1].scale == 384
    assert 'litv2_b' in cfg.load_from


def test_deformable_offsets_follow_upstreams_learning_rate() -> None:
    """LITv2's optimizer.py: offset weights at 0.01 x the lr with decay, offset biases and norms at the lr
    without; timm's schedule warms every group from the same absolute value and floors them at the same
    value, so the offset weights' lr climbs to 1e-5 and stays there."""
    cfg = load_config(osp.join(REPO, 'configs/imagenet/litv2_s_in1k.py'))
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS

    cfg.model.backbone.drop_path_rate = 0.0
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cpu_optim_wrapper(cfg))
    groups = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optim.optimizer.param_groups:
        for param in group['params']:
            groups[names[id(param)]] = (group['lr'], group['weight_decay'])
    offsets = [n for n in groups if 'conv_offset.weight' in n]
    assert offsets and all(groups[n] == pytest.approx((1e-5, 0.05)) for n in offsets)
    assert all(groups[n.replace('weight', 'bias')] == pytest.approx((1e-3, 0.0)) for n in offsets)
    assert all(groups[n][1] == 0.0 for n in groups if n.endswith('.bias') or 'norm' in n)
    assert all(groups[n] == pytest.approx((1e-3, 0.05)) for n in groups if n.endswith('fc1.weight'))
    offset_group = next(g for g in optim.optimizer.param_groups if g['lr'] == pytest.approx(1e-5))
    scheduler = TimmCosineLR(
        optim.optimizer,
        t_initial=300 * 10,
        warmup_steps=20 * 10,
        warmup_lr=1e-6,
        min_lr=1e-5,
        lag=1,
        by_epoch=False,
    )
    lrs = []
    for _ in range(3000):
        lrs.append(offset_group['lr'])
        optim.optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(1e-6) and all(lr == pytest.approx(1e-5) for lr in lrs[201:])


def test_lit_ti_decays_its_position_tables() -> None:
    """LIT-Ti's main.py exempts only names in no_weight_decay() = {'cls_token'}: pos_embed1..4 decay."""
    cfg = load_config(osp.join(REPO, 'configs/imagenet/lit_ti_in1k.py'))
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS

    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cpu_optim_wrapper(cfg))
    decay = {
        n: g['weight_decay']
        for g in optim.optimizer.param_groups
        for n, p in model.named_parameters()
        if any(p is q for q in g['params'])
    }
    assert decay['backbone.cls_token'] == 0.0
    tables = [n for n in decay if 'pos_embed' in n]
    assert tables and all(decay[n] == 0.05 for n in tables)
    assert torch.is_tensor(model.backbone.cls_token)
