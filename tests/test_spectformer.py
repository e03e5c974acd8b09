"""SpectFormer: spectral gating at any size, precision, variants, checkpoint conversion."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import pvt_upstream_layout, randomise
from test_lit import read_keys

from vitdense.models.backbones import SpectFormer
from vitdense.models.backbones.spectformer import SpectralGating, resample_spectral_filter


@pytest.mark.parametrize('size', [(56, 56), (17, 25), (50, 76), (9, 9)])
def test_unit_filter_is_identity_at_any_size(size) -> None:
    gate = SpectralGating(8, (56, 56))
    with torch.no_grad():
        gate.complex_weight.zero_()
        gate.complex_weight[..., 0] = 1.0
    x = torch.randn(2, *size, 8)
    torch.testing.assert_close(gate(x), x, atol=1e-5, rtol=1e-5)


def test_native_grid_uses_the_stored_filter() -> None:
    weight = torch.randn(56, 29, 4, 2)
    assert resample_spectral_filter(weight, 56, 56, 56) is weight
    assert resample_spectral_filter(weight, 56, 56, 57) is weight  # 29 bins too, as upstream


def test_resampling_keeps_the_frequency_response() -> None:
    """A filter that is a smooth function of normalised frequency keeps that function."""

    def response(ky: torch.Tensor, kx: torch.Tensor) -> torch.Tensor:  # periodic in ky
        return torch.cos(2 * math.pi * ky) + 0.5 * torch.sin(math.pi * kx)

    def grid(H: int, W: int) -> torch.Tensor:
        ky = torch.fft.fftfreq(H)[:, None]
        kx = torch.arange(W // 2 + 1)[None, :] / W
        values = response(ky, kx)
        return torch.stack([values, -values], -1)[:, :, None, :]  # H, W//2+1, 1, 2

    for H, W in [(100, 152), (25, 38), (17, 25)]:
        resampled = resample_spectral_filter(grid(56, 56), 56, H, W)
        assert resampled.shape == (H, W // 2 + 1, 1, 2)
        torch.testing.assert_close(resampled, grid(H, W), atol=0.01, rtol=0)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_spectral_path_runs_in_float32_and_casts_back(dtype) -> None:
    gate = SpectralGating(16, (28, 28))
    x = torch.randn(2, 20, 30, 16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = gate(x.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out, gate(x.to(dtype).float()).to(dtype), atol=0, rtol=0)


@pytest.mark.parametrize(
    'kwargs,expected',
    [
        (dict(), [3, 4, 0, 0]),
        (dict(spectral_stages=4), [3, 4, 6, 3]),
        (dict(spectral_stages=0), [0, 0, 0, 0]),
        (dict(spectral_blocks=5), [3, 2, 0, 0]),
    ],
)
def test_spectral_and_attention_variants(kwargs, expected) -> None:
    model = SpectFormer('h-s', **kwargs).eval()
    assert [sum(b.spectral for b in stage.blocks) for stage in model.stages] == expected
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 97, 65))
    assert [o.shape[1] for o in outs] == [64, 128, 320, 448]


def test_bad_variant_raises() -> None:
    with pytest.raises(ValueError, match='spectral_blocks'):
        SpectFormer('h-s', spectral_blocks=99)


def upstream_layout(model: SpectFormer) -> dict[str, torch.Tensor]:
    """``model`` in upstream's layout, with its class-attention post network and heads."""
    state = pvt_upstream_layout(model)
    for name, shape in read_keys('spectformer_h-s_upstream_keys.txt').items():
        if name.startswith(('post_network.', 'head.', 'aux_head.')):
            state[name] = torch.randn(shape)
    return state


def test_upstream_layout_matches_the_key_list() -> None:
    ours = {k: tuple(v.shape) for k, v in upstream_layout(SpectFormer('h-s')).items()}
    assert ours == read_keys('spectformer_h-s_upstream_keys.txt')


def test_upstream_checkpoint_loads_strictly_with_same_features(tmp_path) -> None:
    source = SpectFormer('h-s', drop_path_rate=0.0).eval()
    randomise(source)
    path = tmp_path / 'spectformer_s.pth'
    torch.save({'model': upstream_layout(source)}, path)
    target = SpectFormer('h-s', init_cfg=dict(type='Pretrained', checkpoint=str(path))).eval()
    target.init_weights()
    x = torch.randn(1, 3, 80, 112)
    with torch.no_grad():
        for a, b in zip(source(x), target(x), strict=True):
            torch.testing.assert_close(a, b)
