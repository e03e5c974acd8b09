"""LIT: attention with relative-position bias, position tables, checkpoint conversion."""

from __future__ import annotations

import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, randomise

from vitdense.models.backbones import LIT
from vitdense.models.backbones.lit import RelPosAttention
from vitdense.models.layers import relative_position_index, resize_rel_pos_table


def read_keys(name: str) -> dict[str, tuple[int, ...]]:
    recorded = {}
    with open(osp.join(REPO, 'tests', 'data', name)) as f:
        for line in f:
            if not line.startswith('#'):
                key, shape = line.split()
                recorded[key] = () if shape == '-' else tuple(int(s) for s in shape.split(','))
    return recorded


def test_relative_position_attention_matches_reference() -> None:
    attn = RelPosAttention(32, 4, table_side=5)
    torch.nn.init.normal_(attn.relative_position_bias_table, std=1.0)
    H, W = 3, 7
    x = torch.randn(2, H * W, 32)
    out = attn(x, (H, W), relative_position_index(H, W))
    # reference: explicit logits, bias looked up pair by pair
    table = resize_rel_pos_table(attn.relative_position_bias_table, (2 * H - 1, 2 * W - 1))
    table = table.view(2 * H - 1, 2 * W - 1, 4)
    bias = torch.empty(4, H * W, H * W)
    for i in range(H * W):
        for j in range(H * W):
            bias[:, i, j] = table[i // W - j // W + H - 1, i % W - j % W + W - 1]
    q, k, v = attn.qkv(x).view(2, H * W, 3, 4, 8).permute(2, 0, 3, 1, 4)
    weights = ((q @ k.transpose(-1, -2)) / math.sqrt(8) + bias).softmax(-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, H * W, 32))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_ti_stem_floors_and_large_inputs_work() -> None:
    """Upstream LIT-Ti floors odd sides; it crashes at 448x448 (stage-2 table), vitdense does not."""
    model = LIT('ti').eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 67, 98))
        assert [tuple(o.shape[-2:]) for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3)]
        assert [tuple(o.shape[-2:]) for o in model(torch.randn(1, 3, 448, 448))][1] == (56, 56)


def test_table_sizes_follow_rel_pos_img_size() -> None:
    assert LIT('s').stages[2].blocks[0].attn.relative_position_bias_table.shape == (99 * 99, 12)
    assert LIT('s', rel_pos_img_size=512).stages[3].blocks[0].attn.relative_position_bias_table.shape == (
        31 * 31,
        24,
    )
    assert LIT('ti').stages[3].pos_embed.shape == (1, 49, 512)


def upstream_layout(model: LIT) -> dict[str, torch.Tensor]:
    """Write ``model``'s weights in the upstream classification layout (inverse of the converter).

    Written from upstream's names: LIT-Ti ``patch_embed{1..4}``, ``pos_embed{1..4}``
    (the last with a class-token slot), ``block{1..4}``; LIT-S/M/B ``layers.i``
    with token merging at the end of each stage; MLP-only blocks call their norm
    ``norm2``; merging is ``dconv`` + ``norm_layer``; tables at the ImageNet size.
    """
    state = {}
    pvt = model.style == 'pvt'
    for key, value in model.state_dict().items():
        if key.startswith('norm'):
            continue  # output norms exist only in the dense model
        parts = key.split('.')
        if parts[0] == 'stages':
            stage, rest = int(parts[1]), '.'.join(parts[2:])
            rest = (
                rest.replace('.ffn.', '.mlp.')
                .replace('.conv.', '.dconv.')
                .replace('downsample.norm.', 'downsample.norm_layer.')
            )
            if '.attn.' not in rest and '.norm1.' not in rest:
                rest = rest.replace('.norm.', '.norm2.')
            if pvt:
                if rest == 'pos_embed':
                    key = f'pos_embed{stage + 1}'
                    if stage == 3:
                        value = torch.cat([torch.randn(1, 1, value.shape[2]), value], 1)
                elif rest.startswith('downsample.'):
                    key = f'patch_embed{stage + 1}.{rest[len("downsample.") :]}'
                else:
                    key = f'block{stage + 1}.{rest[len("blocks.") :]}'
            elif rest.startswith('downsample.'):
                key = f'layers.{stage - 1}.{rest}'
            else:
                key = f'layers.{stage}.{rest}'
                if key.endswith('relative_position_bias_table'):
                    value = resize_rel_pos_table(value, (2 * 224 // (4 * 2**stage) - 1,) * 2)
        elif pvt:
            key = key.replace('patch_embed.', 'patch_embed1.')
        state[key] = value.clone()
    last = model.stage_channels[-1]
    state.update({'norm.weight': torch.ones(last), 'norm.bias': torch.zeros(last)})
    state.update({'head.weight': torch.randn(1000, last), 'head.bias': torch.zeros(1000)})
    if pvt:
        state['cls_token'] = torch.zeros(1, 1, last)
    else:  # the classifier also saved its (derived) index buffers
        for key in [k for k in state if k.endswith('relative_position_bias_table')]:
            state[key.replace('_bias_table', '_index')] = torch.zeros(1, dtype=torch.long)
    return state


@pytest.mark.parametrize('arch', ['ti', 's'])
def test_upstream_layout_matches_the_release_key_list(arch) -> None:
    recorded = read_keys(f'lit_{arch}_upstream_keys.txt')
    ours = {k: tuple(v.shape) for k, v in upstream_layout(LIT(arch)).items()}
    assert {k for k in ours if not k.endswith('_index')} == {k for k in recorded if not k.endswith('_index')}
    assert {k for k in ours if k.endswith('_index')} == {k for k in recorded if k.endswith('_index')}
    mismatched = {
        k: (v, recorded[k]) for k, v in ours.items() if not k.endswith('_index') and v != recorded[k]
    }
    assert not mismatched


@pytest.mark.parametrize('arch', ['ti', 's'])
def test_upstream_checkpoint_loads_strictly_with_same_features(tmp_path, arch) -> None:
    """Tables stored at the ImageNet size on both sides, so the features must agree."""
    source = LIT(arch, rel_pos_img_size=224, drop_path_rate=0.0).eval()
    randomise(source)
    path = tmp_path / f'lit_{arch}.pth'
    torch.save({'model': upstream_layout(source)}, path)
    target = LIT(arch, rel_pos_img_size=224, init_cfg=dict(type='Pretrained', checkpoint=str(path))).eval()
    target.init_weights()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        for a, b in zip(source(x), target(x), strict=True):
            torch.testing.assert_close(a, b)


def test_imagenet_tables_are_resized_to_the_dense_size_on_loading(tmp_path) -> None:
    """As upstream's loader does: bicubic from the 224 grid to the ``rel_pos_img_size`` grid."""
    state = upstream_layout(LIT('s', rel_pos_img_size=224))
    path = tmp_path / 'lit_s.pth'
    torch.save({'model': state}, path)
    model = LIT('s')
    model.load_pretrained(str(path))
    for stage, side, dense in ((2, 27, 99), (3, 13, 49)):
        table = state[f'layers.{stage}.blocks.1.attn.relative_position_bias_table']
        heads = table.shape[1]
        expected = F.interpolate(table.t().reshape(1, heads, side, side), size=(dense, dense), mode='bicubic')
        loaded = model.stages[stage].blocks[1].attn.relative_position_bias_table
        torch.testing.assert_close(loaded, expected.reshape(heads, -1).t())
