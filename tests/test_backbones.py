"""The backbone contract, checked for every registered backbone and size."""

from __future__ import annotations

import math
import re
from functools import partial

import pytest
import torch
from conftest import (
    ALL_BACKBONES,
    BACKBONE_FACTORIES,
    TIMM_PYRAMIDS,
    assert_trains_alike,
    registered_backbones,
)
from torch import nn

from vitdense.models.backbones import CBViT, LITv2, SGFormer, SpectFormer

SIZES = [(64, 64), (65, 97), (224, 224)]
DETECTION_SIZE = (800, 1216)


def build(factory, **kwargs) -> nn.Module:
    model = factory(**kwargs)
    model.init_weights()
    return model


def check_pyramid(factory, size) -> None:
    model = build(factory, drop_path_rate=0.0).eval()
    H, W = size
    with torch.no_grad():
        outs = model(torch.randn(1, 3, H, W))
    assert isinstance(outs, tuple) and len(outs) == len(model.out_indices) == len(model.strides)
    assert model.strides == sorted(model.strides) and set(model.strides) <= {4, 8, 16, 32}
    for out, channels, stride in zip(outs, model.out_channels, model.strides, strict=True):
        assert out.dim() == 4 and out.shape[:2] == (1, channels)
        for side, full in zip(out.shape[-2:], (H, W), strict=True):
            assert full // stride <= side <= math.ceil(full / stride), (size, stride, out.shape)
        assert out.is_contiguous()
        assert torch.isfinite(out).all()


@pytest.mark.parametrize('factory', ALL_BACKBONES)
@pytest.mark.parametrize('size', SIZES, ids=lambda s: f'{s[0]}x{s[1]}')
def test_pyramid_shapes_and_strides(factory, size) -> None:
    check_pyramid(factory, size)


@pytest.mark.parametrize('factory', BACKBONE_FACTORIES)
def test_pyramid_at_detection_size(factory) -> None:
    """One size per family at 800x1216 (the other sizes share the code path: see the slow sweep)."""
    check_pyramid(factory, DETECTION_SIZE)


@pytest.mark.slow
@pytest.mark.sweep
@pytest.mark.parametrize('factory', ALL_BACKBONES[: -len(TIMM_PYRAMIDS)])
def test_pyramid_at_detection_size_every_arch(factory) -> None:
    check_pyramid(factory, DETECTION_SIZE)


@pytest.mark.parametrize('factory', ALL_BACKBONES)
def test_gradients_reach_every_parameter(factory) -> None:
    model = build(factory, drop_path_rate=0.0).train()  # stochastic depth may skip a branch
    outs = model(torch.randn(2, 3, 64, 96))
    sum(out.float().pow(2).mean() for out in outs).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f'parameters without gradient: {no_grad}'


@pytest.mark.parametrize('factory', BACKBONE_FACTORIES)
@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 4])
def test_frozen_stages_stay_frozen(factory, frozen_stages) -> None:
    """The stem, then whole declared stages: modules in eval mode, their tensors unchanged by a step."""
    model = build(factory, frozen_stages=frozen_stages).train()
    names = [*model.stem, *(n for spec in model.stage_specs[:frozen_stages] for n in spec.modules)]
    frozen = [x for i in range(-1, frozen_stages) for x in model.stage_modules(i)]
    frozen_params = {id(p) for x in frozen for p in (x.parameters() if isinstance(x, nn.Module) else [x])}
    assert frozen_params and len(frozen) == len(names)
    for module in (x for x in frozen if isinstance(x, nn.Module)):
        assert not any(m.training for m in module.modules())
    frozen_keys = {k for k in model.state_dict() if any(k == n or k.startswith(n + '.') for n in names)}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(id(p) not in frozen_params for p in trainable)
    outs = model(torch.randn(2, 3, 64, 64))
    if frozen_stages < model.num_stages:
        optimizer = torch.optim.SGD(trainable, lr=1.0)
        sum(out.sum() for out in outs).backward()
        optimizer.step()
    else:
        assert not trainable
    after = model.state_dict()
    changed = [k for k in frozen_keys if not torch.equal(before[k], after[k])]
    assert not changed, f'frozen tensors changed: {changed}'


@pytest.mark.parametrize('factory', BACKBONE_FACTORIES)
def test_with_cp_matches(factory) -> None:
    plain = build(factory, drop_path_rate=0.0).train()
    ckpt = build(factory, drop_path_rate=0.0, with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    assert_trains_alike(plain, ckpt, plain(x), ckpt(x))


@pytest.mark.parametrize('factory', BACKBONE_FACTORIES)
def test_out_indices_subset(factory) -> None:
    model = build(factory, out_indices=(1, 3)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert len(outs) == 2 and [o.shape[1] for o in outs] == model.out_channels
    assert model.strides == [model.stage_strides[1], model.stage_strides[3]]


@pytest.mark.parametrize('cls', registered_backbones(), ids=lambda c: c.__name__)
def test_bad_arguments_give_clear_errors(cls) -> None:
    with pytest.raises(ValueError, match='unknown arch .*valid'):
        cls(arch='does-not-exist')
    with pytest.raises(ValueError, match='arch dict needs'):
        cls(arch={'embed_dims': 8})
    with pytest.raises(ValueError, match='out_indices'):
        cls(arch=next(iter(cls.arch_zoo)), out_indices=(99,))
    if cls.per_stage_keys:
        arch = dict(next(iter(cls.arch_zoo.values())))
        arch[cls.per_stage_keys[0]] = tuple(arch[cls.per_stage_keys[0]])[:2]
        with pytest.raises(ValueError, match=f'arch {cls.per_stage_keys[0]} needs'):
            cls(arch=arch)


@pytest.mark.parametrize('factory', BACKBONE_FACTORIES)
def test_tiny_input_is_valid_or_clear_error(factory) -> None:
    model = build(factory).eval()
    try:
        outs = model(torch.randn(1, 3, 16, 16))
    except ValueError as err:
        assert 'at least' in str(err)
    else:
        assert all(o.numel() and torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize(
    'factory,checkpoint,hint',
    [
        (partial(LITv2, 's'), 'nowhere/litv2_s.pth', 'nowhere/litv2_s.pth'),
        (partial(SGFormer, 's'), 'checkpoints/sgformer_s.pth', 'Google Drive'),
        (
            partial(SpectFormer, 'h-s'),
            'checkpoints/x.pth',
            'tools/dist_train.sh configs/imagenet/spectformer_h-s_tl_in1k.py 8 && cp $(cat '
            'work_dirs/spectformer_h-s_tl_in1k/last_checkpoint) checkpoints/x.pth` '
            '(without token-label maps: configs/imagenet/spectformer_h-s_in1k.py)',
        ),
        (partial(CBViT, 's', cb='cbs'), 'checkpoints/x.pth', 'configs/imagenet/cbvit_cbs_s_in1k.py'),
    ],
)
def test_missing_pretrained_file_says_where_to_get_it(factory, checkpoint, hint) -> None:
    model = factory(init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    with pytest.raises(FileNotFoundError, match=re.escape(hint)):
        model.init_weights()


def structure(model: nn.Module) -> set[tuple]:
    """What decides a backbone's code path: module types, their flags and kinds, HiLo's non-empty halves."""
    found = set()
    for m in model.modules():
        flags = tuple(
            sorted(
                (k, v)
                for k, v in vars(m).items()
                if isinstance(v, (bool, str)) and k[0] != '_' and k != 'arch_name'  # the size's own name
            )
        )
        halves = (m.l_heads > 0, m.h_heads > 0) if hasattr(m, 'l_heads') else ()
        found.add((type(m).__name__, flags, halves))
    return found


def test_sizes_left_to_the_sweep_have_the_structure_of_a_size_the_default_suite_checks() -> None:
    """Sizes left to the sweep only scale a size the default suite checks: they add no code path."""
    checked, swept = {}, []
    for p in ALL_BACKBONES[: -len(TIMM_PYRAMIDS)]:
        family = p.id.split('-')[0]
        with torch.device('meta'):
            found = structure(p.values[0]())
        if p.marks:
            swept.append((p.id, family, found))
        else:
            checked.setdefault(family, set()).update(found)
    assert swept
    for name, family, found in swept:
        assert found <= checked[family], f'{name} adds {sorted(found - checked[family])}'
