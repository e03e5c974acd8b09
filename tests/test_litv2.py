"""LITv2: HiLo against a reference, upstream output sizes, checkpoint conversion."""

from __future__ import annotations

import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, randomise
from torchvision.ops import deform_conv2d

from vitdense.models.backbones import CheckpointMismatchError, LITv2
from vitdense.models.backbones.litv2 import HiLoAttention
from vitdense.models.layers import DeformConv2dPack
from vitdense.utils import CheckpointReadError


def reference_hilo(attn: HiLoAttention, x: torch.Tensor) -> torch.Tensor:
    """HiLo written the slow way: global attention with a window mask (Hi-Fi) and
    pooled keys by explicit averaging (Lo-Fi), with upstream's zero padding."""
    B, H, W, C = x.shape
    s, d = attn.window_size, attn.head_dims
    Hp, Wp = math.ceil(H / s) * s, math.ceil(W / s) * s
    xp = torch.zeros(B, Hp, Wp, C)
    xp[:, :H, :W] = x
    outs = []
    if attn.h_heads:
        h = attn.h_heads
        q, k, v = attn.h_qkv(xp).reshape(B, Hp * Wp, 3, h, d).permute(2, 0, 3, 1, 4)
        rows = torch.arange(Hp).repeat_interleave(Wp) // s
        cols = torch.arange(Wp).repeat(Hp) // s
        same = (rows[:, None] == rows[None]) & (cols[:, None] == cols[None])
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        logits = logits.masked_fill(~same, float('-inf'))
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(B, Hp, Wp, h * d)
        outs.append(attn.h_proj(out)[:, :H, :W])
    if attn.l_heads:
        h = attn.l_heads
        q = attn.l_q(x).reshape(B, H * W, h, d).transpose(1, 2)
        pooled = xp.reshape(B, Hp // s, s, Wp // s, s, C).mean(dim=(2, 4)).reshape(B, -1, C)
        k, v = attn.l_kv(pooled).reshape(B, -1, 2, h, d).permute(2, 0, 3, 1, 4)
        out = ((q @ k.transpose(-1, -2)) / math.sqrt(d)).softmax(-1) @ v
        outs.append(attn.l_proj(out.transpose(1, 2).reshape(B, H, W, h * d)))
    return torch.cat(outs, -1)


@pytest.mark.parametrize(
    'window_size,alpha,heads',
    [(2, 0.9, 12), (4, 0.9, 12), (1, 0.9, 24), (2, 0.0, 6), (2, 1.0, 6), (3, 0.5, 4)],
)
@pytest.mark.parametrize('size', [(8, 8), (7, 11)])
@pytest.mark.parametrize('compiled', [False, True], ids=['eager', 'compiled'])
def test_hilo_matches_reference(window_size, alpha, heads, size, compiled) -> None:
    """Eager, and traced by torch.compile (where 2 x 2 Hi-Fi windows are written out)."""
    dims = heads * 8
    attn = HiLoAttention(dims, heads, window_size, alpha)
    for p in attn.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(2, *size, dims)
    expected_lofi = heads if window_size == 1 else int(heads * alpha)
    assert (attn.l_heads, attn.h_heads) == (expected_lofi, heads - expected_lofi)
    run = torch.compile(attn, backend='eager', fullgraph=True) if compiled else attn
    try:
        torch.testing.assert_close(run(x), reference_hilo(attn, x), atol=1e-5, rtol=1e-4)
    finally:
        torch._dynamo.reset()


def test_deform_conv_offsets_follow_dcn_layout() -> None:
    """Offsets are (dy, dx) per kernel tap, sampled bilinearly: check against grid_sample."""
    conv = DeformConv2dPack(3, 4, kernel_size=2, stride=2)
    torch.nn.init.normal_(conv.conv_offset.weight, std=0.5)
    x = torch.randn(1, 3, 8, 10)
    offset = conv.conv_offset(x)  # 1, 8, 4, 5
    oy, ox = torch.meshgrid(torch.arange(4) * 2.0, torch.arange(5) * 2.0, indexing='ij')
    expected = conv.bias.view(1, -1, 1, 1).expand(1, 4, 4, 5).clone()
    for tap, (ky, kx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        py = oy + ky + offset[0, 2 * tap]
        px = ox + kx + offset[0, 2 * tap + 1]
        grid = torch.stack([px / (10 - 1) * 2 - 1, py / (8 - 1) * 2 - 1], -1)[None]
        sampled = F.grid_sample(x, grid, align_corners=True, padding_mode='zeros')  # 1, 3, 4, 5
        expected = expected + torch.einsum('oc,bchw->bohw', conv.weight[:, :, ky, kx], sampled)
    torch.testing.assert_close(conv(x), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('size', [(29, 29), (64, 64), (65, 97), (100, 37), (800, 1216), (1333, 800)])
def test_output_sizes_follow_upstream(size) -> None:
    """Upstream pads to a multiple of 4 in the stem, then floors at each token merging."""
    model = LITv2('s').eval()
    H, W = size
    with torch.no_grad():
        outs = model(torch.randn(1, 3, H, W))
    h, w = math.ceil(H / 4), math.ceil(W / 4)
    for out in outs:
        assert tuple(out.shape[-2:]) == (h, w)
        h, w = h // 2, w // 2


def test_too_small_input_raises_clearly() -> None:
    with pytest.raises(ValueError, match='at least 29x29'):
        LITv2('s')(torch.randn(1, 3, 28, 64))


def test_output_norms_follow_upstream_ports() -> None:
    det = LITv2('s')
    seg = LITv2('s', first_out_norm=True)
    assert not hasattr(det, 'norm0') and all(hasattr(det, f'norm{i}') for i in (1, 2, 3))
    assert all(hasattr(seg, f'norm{i}') for i in range(4))


def test_norm_eval_keeps_batchnorm_in_eval() -> None:
    model = LITv2('s', norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 3 and not any(bn.training for bn in bns)


# ----------------------------------------------------------------- checkpoints
UPSTREAM_KEYS = osp.join(REPO, 'tests', 'data', 'litv2_s_upstream_keys.txt')


def upstream_layout(model: LITv2) -> dict[str, torch.Tensor]:
    """Write ``model``'s weights in the upstream classification release layout.

    This is the inverse of the converter, written from upstream's module names
    (``layers.i.blocks.j.{norm1,attn,norm2,mlp.{fc1,dwconv.dwconv,fc2}}``,
    ``layers.i.downsample.{dconv,norm_layer}``), plus a classifier.
    """
    state = {}
    for key, value in model.state_dict().items():
        parts = key.split('.')
        if parts[0] == 'stages':
            stage = int(parts[1])
            if parts[2] == 'downsample':
                sub = {'conv': 'dconv', 'norm': 'norm_layer'}[parts[3]]
                key = '.'.join(['layers', str(stage - 1), 'downsample', sub, *parts[4:]])
            else:
                rest = '.'.join(parts[2:])
                rest = rest.replace('.ffn.dwconv.', '.mlp.dwconv.dwconv.').replace('.ffn.', '.mlp.')
                if model.local_ws[stage] == 0:
                    rest = rest.replace('.norm.', '.norm2.')
                key = f'layers.{stage}.{rest}'
        elif parts[0].startswith('norm'):
            continue  # output norms exist only in the dense model
        state[key] = value.clone()
    last = model.stage_channels[-1]
    state.update({'norm.weight': torch.ones(last), 'norm.bias': torch.zeros(last)})
    state.update({'head.weight': torch.randn(1000, last), 'head.bias': torch.zeros(1000)})
    return state


def test_upstream_layout_matches_the_release_key_list() -> None:
    """The key names and shapes upstream's classifier has (recorded from its code)."""
    recorded = {}
    with open(UPSTREAM_KEYS) as f:
        for line in f:
            if line.startswith('#'):
                continue
            name, shape = line.split()
            recorded[name] = () if shape == '-' else tuple(int(s) for s in shape.split(','))
    ours = {k: tuple(v.shape) for k, v in upstream_layout(LITv2('s')).items()}
    assert ours == recorded


def test_upstream_checkpoint_loads_strictly_with_same_features(tmp_path) -> None:
    source = LITv2('s').eval()
    randomise(source)
    path = tmp_path / 'litv2_s.pth'
    torch.save({'model': upstream_layout(source), 'epoch': 300}, path)
    target = LITv2('s', init_cfg=dict(type='Pretrained', checkpoint=str(path))).eval()
    target.init_weights()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        for a, b in zip(source(x), target(x), strict=True):
            torch.testing.assert_close(a, b)


def test_vitdense_checkpoint_round_trip_with_prefix(tmp_path) -> None:
    source = LITv2('s', first_out_norm=True)
    randomise(source)
    path = tmp_path / 'detector.pth'
    detector = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    detector['neck.conv.weight'] = torch.zeros(1)
    torch.save({'state_dict': detector, 'meta': {}}, path)
    target = LITv2('s', first_out_norm=True)
    target.load_pretrained(str(path), prefix='backbone.')
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def test_mismatched_checkpoint_lists_keys(tmp_path) -> None:
    state = upstream_layout(LITv2('s'))
    del state['layers.2.blocks.0.attn.l_q.weight']
    state['layers.2.blocks.0.attn.extra'] = torch.zeros(1)
    path = tmp_path / 'bad.pth'
    torch.save({'model': state}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        LITv2('s').load_pretrained(str(path))
    message = str(err.value)
    assert 'stages.2.blocks.0.attn.l_q.weight' in message and 'stages.2.blocks.0.attn.extra' in message


def test_wrong_size_checkpoint_lists_shapes(tmp_path) -> None:
    path = tmp_path / 'litv2_b.pth'
    torch.save({'model': upstream_layout(LITv2('b'))}, path)
    with pytest.raises(CheckpointMismatchError, match=r'(?s)shape mismatch .*patch_embed\.proj\.weight'):
        LITv2('s').load_pretrained(str(path))


@pytest.mark.parametrize('content', [b'', b'not a checkpoint at all', 'truncated'])
def test_corrupted_checkpoint_file_raises_clearly(tmp_path, content) -> None:
    path = tmp_path / 'broken.pth'
    if content == 'truncated':
        torch.save({'model': LITv2('s').state_dict()}, path)
        path.write_bytes(path.read_bytes()[:5000])
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointReadError, match='broken.pth'):
        LITv2('s').load_pretrained(str(path))


def test_missing_checkpoint_file_raises_clearly(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        LITv2('s').load_pretrained(str(tmp_path / 'nope.pth'))


@pytest.mark.parametrize(
    'size, offsets, dtype',
    [
        *[(size, 'moved', torch.float64) for size in [(8, 12), (7, 9), (3, 2), (57, 83)]],
        *[
            (size, 'zero', dtype)
            for size in [(8, 12), (28, 28), (57, 83)]
            for dtype in (torch.float64, torch.float32)
        ],
        *[
            (size, shift, dtype)
            for size in [(100, 164), (212, 234)]
            for shift in ('+1', '-1')
            for dtype in (torch.float64, torch.float32)
        ],
    ],
)
def test_token_merging_by_sampling_equals_torchvision_deform_conv(size, offsets, dtype) -> None:
    """Sample-then-convolve gives torchvision's outputs and gradients.

    ``moved``: offsets of a few pixels, some taps outside the map. ``zero``: every tap on a whole
    pixel, as at initialisation, where the offsets' gradient is DCNv1's right-hand slope (the left
    one would differ from it by about as much as the gradient itself). ``+1`` / ``-1``: whole-pixel
    offsets that put taps on the pixels just outside the map (``size`` and -1).
    """
    torch.manual_seed(0)
    conv = DeformConv2dPack(5, 4, kernel_size=2, stride=2).to(dtype)
    if offsets == 'moved':
        torch.nn.init.normal_(conv.conv_offset.weight, std=2.0)
        torch.nn.init.normal_(conv.conv_offset.bias, std=2.0)
    elif offsets != 'zero':
        torch.nn.init.constant_(conv.conv_offset.bias, float(offsets))
    x = torch.randn(2, 5, *size, dtype=dtype, requires_grad=True)
    results = []
    for reference in (True, False):
        conv.reference = reference
        out = conv(x)
        grads = torch.autograd.grad(out.square().sum(), [x, *conv.parameters()])
        results.append((out, *grads))
    assert results[1][0].shape == (2, 4, size[0] // 2, size[1] // 2)
    limit = 1e-10 if dtype == torch.float64 else 1e-3  # fp32: a shift of up to 2 * eps * size pixels
    for ours, ref in zip(*results, strict=True):
        assert (ours - ref).abs().max() <= limit * ref.abs().max()


def test_token_merging_keeps_torchvision_for_overlapping_taps() -> None:
    """A kernel larger than its stride cannot be tiled: it runs on the reference operator."""
    conv = DeformConv2dPack(3, 4, kernel_size=3, stride=2, padding=1)
    torch.nn.init.normal_(conv.conv_offset.weight, std=0.5)
    x = torch.randn(1, 3, 9, 10)
    assert not conv.tiles
    torch.testing.assert_close(
        conv(x), deform_conv2d(x, conv.conv_offset(x), conv.weight, conv.bias, stride=2, padding=1)
    )
