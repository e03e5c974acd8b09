"""TimmPyramid beyond the generic contract: strict loading of timm-layout weights, clear errors."""

from __future__ import annotations

import pytest
import timm
import torch
from conftest import TIMM_PYRAMIDS
from mmengine.registry import init_default_scope
from timm.models import register_model

from vitdense.models.backbones import CheckpointMismatchError, TimmPyramid
from vitdense.models.backbones.timm_pyramid import ANY_SIZE_OPTIONS


def full_model(name: str) -> tuple[torch.nn.Module, dict]:
    """The classifier a TimmPyramid test model wraps, and the TimmPyramid arguments."""
    kwargs = TIMM_PYRAMIDS[name]
    return timm.create_model(kwargs['model_name'], **kwargs.get('model_kwargs', {})).eval(), kwargs


def save(tmp_path, state: dict, wrapper: str | None = 'model') -> str:
    path = str(tmp_path / 'weights.pth')
    torch.save({wrapper: state} if wrapper else state, path)
    return path


@pytest.mark.parametrize('name', ['resnet18', 'swin', 'vit', 'convmixer'])
def test_pretrained_loads_strictly_and_gives_timms_features(tmp_path, name) -> None:
    full, kwargs = full_model(name)
    path = save(tmp_path, full.state_dict())
    model = TimmPyramid(**kwargs, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()  # loads, and must not re-draw (timm's ViT has its own init_weights)
    model.eval()
    reference = timm.create_model(
        kwargs['model_name'],
        features_only=True,
        pretrained=True,
        pretrained_cfg_overlay=dict(file=path),
        out_indices=model.body.feature_info.out_indices,
        **model._timm_kwargs,
    ).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = reference(x)
        got = model.body(x)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    if not model.single_scale:  # whole pyramid: timm's maps, NCHW
        with torch.no_grad():
            outs = model(x)
        for out, ref in zip(outs, expected, strict=True):
            torch.testing.assert_close(out, ref.permute(0, 3, 1, 2) if model.nhwc else ref)


def test_headless_checkpoint_loads(tmp_path) -> None:
    """Self-supervised releases (DINO, MAE) have no classifier; the dense model needs none."""
    full, kwargs = full_model('vit')
    state = {k: v for k, v in full.state_dict().items() if not k.startswith(('head.', 'norm.', 'fc_norm.'))}
    model = TimmPyramid(**kwargs, pretrained=save(tmp_path, state, wrapper=None))  # mmseg's argument
    model.init_weights()
    torch.testing.assert_close(model.body.model.pos_embed, full.pos_embed)


def test_bad_checkpoints_are_listed(tmp_path) -> None:
    full, kwargs = full_model('vit')
    state = full.state_dict()
    missing = {k: v for k, v in state.items() if not k.startswith('blocks.1.')}
    with pytest.raises(CheckpointMismatchError, match=r'(?s)missing \(\d+\):.*blocks\.1\.attn\.qkv\.weight'):
        TimmPyramid(
            **kwargs, init_cfg=dict(type='Pretrained', checkpoint=save(tmp_path, missing))
        ).init_weights()
    with pytest.raises(CheckpointMismatchError, match=r'(?s)unexpected \(1\):.*extra\.weight'):
        extra = save(tmp_path, dict(state, **{'extra.weight': torch.zeros(1)}))
        TimmPyramid(**kwargs, init_cfg=dict(type='Pretrained', checkpoint=extra)).init_weights()
    wrong = dict(state, **{'blocks.0.mlp.fc1.bias': torch.zeros(7)})
    with pytest.raises(CheckpointMismatchError, match='shape mismatch'):
        TimmPyramid(
            **kwargs, init_cfg=dict(type='Pretrained', checkpoint=save(tmp_path, wrong))
        ).init_weights()
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        TimmPyramid(
            **kwargs, init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'nowhere.pth'))
        ).init_weights()


@pytest.mark.parametrize('model_name', ['deit_tiny_patch16_224', 'swin_tiny_patch4_window7_224'])
def test_timms_own_any_size_option_is_turned_on(model_name) -> None:
    """What a user writes for any timm model: no model_kwargs, yet any input size works.

    Swin takes ``strict_img_size=False`` (timm 1.0.29) or its alias ``dynamic_img_size`` (1.0.31).
    """
    model = TimmPyramid(model_name).eval()
    assert any(option.items() <= model._timm_kwargs.items() for option in ANY_SIZE_OPTIONS)
    assert not model._reference[0].patch_embed.strict_img_size
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 65, 97))
    assert [tuple(o.shape[-2:]) for o in outs] == [(17, 25), (9, 13), (5, 7), (3, 4)]


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match='unknown timm model'):
        TimmPyramid('not_a_model')
    with pytest.raises(ValueError, match='accepts only'):  # the option exists, but is turned off
        TimmPyramid('vit_tiny_patch16_224', model_kwargs=dict(dynamic_img_size=False))
    with pytest.raises(ValueError, match=r'mmpretrain\.MViT'):
        TimmPyramid('mvitv2_tiny')  # relative-position tables tied to 224x224
    with pytest.raises(ValueError, match='block_indices must be 1 or 4 blocks'):
        TimmPyramid(**TIMM_PYRAMIDS['xcit'] | dict(block_indices=(3, 12)))
    with pytest.raises(ValueError, match='single-scale models only'):
        TimmPyramid('resnet18', block_indices=(1, 2, 3, 4))
    with pytest.raises(ValueError, match='out_indices'):
        TimmPyramid('resnet18', out_indices=(4,))


@register_model
def vitdense_test_no_features(pretrained: bool = False, **kwargs) -> torch.nn.Module:
    """A timm-registered model that declares no feature maps (as ConvMixer before timm 1.0.31)."""
    return torch.nn.Conv2d(3, 8, 7, 7)


def test_model_without_feature_maps_is_refused() -> None:
    with pytest.raises(ValueError, match=r'extracts no feature maps .*upgrade timm'):
        TimmPyramid('vitdense_test_no_features')


def test_one_block_feeds_every_level() -> None:
    model = TimmPyramid(**TIMM_PYRAMIDS['vit'] | dict(block_indices=(3,))).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    assert len(model.body.model.blocks) == 4


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_builds_from_task_scopes(scope) -> None:
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    model = MODELS.build(dict(type='TimmPyramid', **TIMM_PYRAMIDS['swin']))
    assert isinstance(model, TimmPyramid) and model.out_channels == [32, 64, 128, 256]
