"""The protocols' optimizer constructor: mmengine's per-parameter settings in one group per setting."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import repo_config
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import LinearLR
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from vitdense.engine import merge_param_groups


class Toy(nn.Module):
    """Parameters of four settings under the paramwise rules below: decayed, norm, bias, offset conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.LayerNorm(8)
        self.conv_offset = nn.Conv2d(8, 18, 3)
        self.fc = nn.Linear(8, 4)
        self.norm2 = nn.LayerNorm(4)


PARAMWISE = dict(
    bias_decay_mult=0.0,
    custom_keys={'norm': dict(decay_mult=0.0), 'conv_offset': dict(lr_mult=0.01)},
)


def optim_wrapper(model: nn.Module, constructor: str, optimizer: str = 'AdamW'):
    return build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            constructor=constructor,
            optimizer=dict(type=optimizer, lr=1e-3, weight_decay=0.05, foreach=True),
            paramwise_cfg=PARAMWISE,
        ),
    )


def settings_of(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict]:
    """Each named parameter's group settings (lr, weight decay, betas, ...)."""
    names = {id(p): n for n, p in model.named_parameters()}
    return {
        names[id(p)]: {k: v for k, v in group.items() if k != 'params'}
        for group in optimizer.param_groups
        for p in group['params']
    }


def test_merged_groups_update_every_parameter_as_mmengines_groups_do() -> None:
    """Same settings per parameter, one group per distinct setting, and bitwise the same parameters
    after AdamW steps (foreach, which batches within a group) under a warm-up scheduler."""
    torch.manual_seed(0)
    model = Toy()
    twin = copy.deepcopy(model)
    default = optim_wrapper(model, 'DefaultOptimWrapperConstructor')
    merged = optim_wrapper(twin, 'MergedGroupsOptimWrapperConstructor')
    assert len(default.optimizer.param_groups) == len(list(model.parameters())) == 10
    # decayed weights; norms; other biases; the offset conv (0.01 x lr; its key overrides the bias rule)
    assert len(merged.optimizer.param_groups) == 4
    assert settings_of(model, default.optimizer) == settings_of(twin, merged.optimizer)
    schedulers = [LinearLR(o.optimizer, start_factor=0.1, by_epoch=False, end=3) for o in (default, merged)]
    for _ in range(4):
        for net in (model, twin):
            for p in net.parameters():
                p.grad = torch.sin(torch.arange(p.numel(), dtype=p.dtype) + p.numel()).view_as(p)
        for o, s in zip((default, merged), schedulers, strict=True):
            o.step()
            s.step()
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert settings_of(model, default.optimizer) == settings_of(twin, merged.optimizer)


def test_merge_keeps_groups_that_differ_in_any_setting() -> None:
    a, b, c, d = (nn.Parameter(torch.zeros(1)) for _ in range(4))
    groups = [
        dict(params=[a], lr=1.0, betas=(0.9, 0.999)),
        dict(params=[b], lr=1.0, betas=(0.9, 0.99)),
        dict(params=[c], lr=2.0, betas=(0.9, 0.999)),
        dict(params=[d], lr=1.0, betas=(0.9, 0.999)),
    ]
    merged = merge_param_groups(groups)
    assert [[id(p) for p in g['params']] for g in merged] == [[id(a), id(d)], [id(b)], [id(c)]]
    assert [(g['lr'], g['betas']) for g in merged] == [
        (1.0, (0.9, 0.999)),
        (1.0, (0.9, 0.99)),
        (2.0, (0.9, 0.999)),
    ]


def test_merge_leaves_groups_with_tensor_settings_apart() -> None:
    """A tensor lr compares by value (or not at all): such groups stay apart, each with its own tensor."""
    a, b, c = (nn.Parameter(torch.zeros(1)) for _ in range(3))
    lr_a, lr_b = torch.tensor(1.0), torch.tensor(1.0)
    merged = merge_param_groups(
        [dict(params=[a], lr=lr_a), dict(params=[b], lr=lr_b), dict(params=[c], lr=torch.ones(2))]
    )
    assert [g['params'][0] is p for g, p in zip(merged, (a, b, c), strict=True)] == [True] * 3
    assert merged[0]['lr'] is lr_a and merged[1]['lr'] is lr_b


@pytest.mark.parametrize(
    'path', ['configs/mask_rcnn/litv2_s_fpn_1x_coco.py', 'configs/upernet/litv2_s_160k_ade20k.py']
)
def test_protocol_optimizer_has_one_group_per_setting(path) -> None:
    """What `tools/train.py` builds: mmengine's settings for every parameter, in two groups (decayed,
    not decayed) where mmengine makes one per parameter (over 200)."""
    cfg = repo_config(path)
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    wrapper_cfg = {k: v for k, v in cfg.optim_wrapper.items() if k != 'loss_scale'} | dict(
        type='OptimWrapper'
    )
    merged = build_optim_wrapper(model, wrapper_cfg)
    default = build_optim_wrapper(model, wrapper_cfg | dict(constructor='DefaultOptimWrapperConstructor'))
    assert len(default.optimizer.param_groups) == len(list(model.parameters())) > 200
    assert sorted(g['weight_decay'] for g in merged.optimizer.param_groups) == [
        0.0,
        cfg.optim_wrapper.optimizer.weight_decay,
    ]
    assert settings_of(model, merged.optimizer) == settings_of(model, default.optimizer)


def test_optimizer_placing_its_own_groups_keeps_mmengines() -> None:
    """As torch's ZeroRedundancyOptimizer, which partitions in add_param_group: its groups are left alone."""
    from mmengine.registry import OPTIMIZERS

    @OPTIMIZERS.register_module(force=True)
    class PlacingAdamW(torch.optim.AdamW):
        def add_param_group(self, param_group: dict) -> None:
            super().add_param_group(param_group)

    model = Toy()
    wrapper = optim_wrapper(model, 'MergedGroupsOptimWrapperConstructor', optimizer='PlacingAdamW')
    assert len(wrapper.optimizer.param_groups) == len(list(model.parameters()))
