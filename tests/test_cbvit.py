"""CB-ViT: context broadcasting, its parameters, DeiT/timm checkpoints, the pyramid neck."""

from __future__ import annotations

import pytest
import timm
import torch

from vitdense.models.backbones import CBViT, LITv2
from vitdense.models.backbones.cbvit import ViTBlock
from vitdense.models.layers import ContextBroadcast
from vitdense.models.necks import ViTPyramidNeck


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_cb_adds_no_parameters_and_cbs_depth_times_dim() -> None:
    plain = params(CBViT('s'))
    assert params(CBViT('s', cb='cb')) == plain
    assert params(CBViT('s', cb='cbs')) - plain == 12 * 384
    assert params(CBViT('s', cb='cbs', cb_layers='deeper')) - plain == 6 * 384
    assert params(CBViT('s', cb='cbs', cb_position='both')) - plain == 2 * 12 * 384


def test_cbs_with_zero_scale_is_the_plain_vit() -> None:
    plain = CBViT('ti', drop_path_rate=0.0).eval()
    plain.init_weights()
    cbs = CBViT('ti', cb='cbs', cb_position='both', drop_path_rate=0.0).eval()
    cbs.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        for m in cbs.modules():
            if isinstance(m, ContextBroadcast):
                m.scale.zero_()
        for a, b in zip(plain(x), cbs(x), strict=True):
            torch.testing.assert_close(a, b)
        cb = CBViT('ti', cb='cb', drop_path_rate=0.0).eval()
        cb.load_state_dict(plain.state_dict())
        assert not torch.allclose(plain(x)[-1], cb(x)[-1])


def test_broadcast_mixes_with_the_weighted_mean() -> None:
    block = ViTBlock(8, 2, cb='cb')
    y = torch.randn(2, 5, 8)
    weights = torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0])  # e.g. class token and padded tokens excluded
    expected = 0.5 * y + 0.5 * (y[:, 1:3].mean(1, keepdim=True))
    torch.testing.assert_close(ViTBlock._broadcast(block.cb_mlp, y, weights), expected)


def test_mean_skips_class_token_and_padded_tokens() -> None:
    model = CBViT('ti')
    weights = model._token_weights(40, 56, 3, 4, torch.device('cpu'))  # 40x56 padded to 48x64
    assert weights.shape == (1 + 12,) and weights[0] == 0
    grid = weights[1:].view(3, 4)
    assert torch.equal(grid > 0, torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool))
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0))
    assert model._token_weights(10, 10, 1, 1, torch.device('cpu'))[1] == 1  # smaller than a patch


def test_bad_cb_arguments() -> None:
    with pytest.raises(ValueError, match='cb must be'):
        CBViT('s', cb='yes')
    with pytest.raises(ValueError, match='cb_layers'):
        CBViT('s', cb='cb', cb_layers=[12])


def timm_intermediates(model: torch.nn.Module, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
    """timm's own forward, block by block."""
    tokens = model._pos_embed(model.patch_embed(x))
    outs = []
    for i, block in enumerate(model.blocks):
        tokens = block(tokens)
        if i in indices:
            side = x.shape[-1] // 16
            outs.append(tokens[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, x.shape[-2] // 16, side))
    return outs


@pytest.mark.parametrize('wrap', [False, True], ids=['timm', 'deit-release'])
@pytest.mark.parametrize('size', [224, 320])
def test_deit_checkpoint_loads_strictly_and_matches_timm(tmp_path, wrap, size) -> None:
    reference = timm.create_model('deit_tiny_patch16_224', pretrained=False, dynamic_img_size=True).eval()
    state = reference.state_dict()
    path = tmp_path / 'deit.pth'
    torch.save({'model': state} if wrap else state, path)
    model = CBViT('ti', cb='cbs', init_cfg=dict(type='Pretrained', checkpoint=str(path))).eval()
    model.init_weights()
    assert all(m.scale.eq(0.5).all() for m in model.modules() if isinstance(m, ContextBroadcast))
    plain = CBViT('ti', drop_path_rate=0.0).eval()
    plain.load_pretrained(str(path))
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        for a, b in zip(timm_intermediates(reference, x, [3, 5, 7, 11]), plain(x), strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_position_embedding_of_another_size_is_resized(tmp_path) -> None:
    state = timm.create_model('vit_tiny_patch16_384', pretrained=False).state_dict()
    path = tmp_path / 'deit384.pth'
    torch.save(state, path)
    model = CBViT('ti')
    model.load_pretrained(str(path))
    assert model.pos_embed.shape == (1, 1 + 14 * 14, 192)


def test_pyramid_neck_strides() -> None:
    neck = ViTPyramidNeck(32).eval()
    maps = [torch.randn(1, 32, 6, 10) for _ in range(4)]
    outs = neck(maps)
    assert [tuple(o.shape[-2:]) for o in outs] == [(24, 40), (12, 20), (6, 10), (3, 5)]
    assert len(neck(maps[:1])) == 4
    with pytest.raises(ValueError, match='one channel count'):
        ViTPyramidNeck([32, 64, 32, 32])


def test_litv2_context_broadcast_switch() -> None:
    plain = LITv2('s')
    assert params(LITv2('s', cb='cb')) == params(plain)
    assert params(LITv2('s', cb='cbs')) - params(plain) == sum(
        len(stage.blocks) * dims for stage, dims in zip(plain.stages, plain.stage_channels, strict=True)
    )
    cbs = LITv2('s', cb='cbs', drop_path_rate=0.0).eval()
    state = {k: v for k, v in cbs.state_dict().items() if not k.endswith('cb.scale')}
    cbs.load_converted(state)  # CBS scales are new keys, not an error
    with pytest.raises(ValueError, match='cb must be'):
        LITv2('s', cb='on')


def test_headless_self_supervised_checkpoint_loads() -> None:
    """DINO / MAE ViT-S releases hold no classifier (docs/baselines.md says they load)."""
    state = {
        k: v for k, v in timm.create_model('vit_small_patch16_224').state_dict().items() if 'head.' not in k
    }
    model = CBViT('s')
    model.load_converted(state, source='headless ViT-S')
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight, state['blocks.0.attn.qkv.weight'])
