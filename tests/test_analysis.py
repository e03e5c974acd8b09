"""FLOP counting and the analysis tools."""

from __future__ import annotations

import json
import os.path as osp
import subprocess
import sys

import torch
import torch.nn.functional as F
from conftest import REPO
from torchvision.ops import deform_conv2d

from vitdense.models.backbones import LITv2
from vitdense.utils.analysis import count_macs


def test_attention_and_deformable_conv_are_counted() -> None:
    q = torch.randn(2, 3, 16, 8)
    k = torch.randn(2, 3, 10, 8)
    assert count_macs(lambda: F.scaled_dot_product_attention(q, k, k)) == 2 * 3 * 16 * 10 * 8 * 2
    x, w = torch.randn(1, 4, 8, 8), torch.randn(6, 4, 2, 2)
    offset = torch.randn(1, 8, 4, 4)
    conv = count_macs(lambda: F.conv2d(x, w, stride=2))
    assert conv == 6 * 4 * 4 * 4 * 4 and count_macs(lambda: deform_conv2d(x, offset, w, stride=2)) == conv


def test_litv2_imagenet_complexity_matches_published() -> None:
    """Upstream publishes 28M (with its 1000-class head) / 3.7G for LITv2-S at 224x224."""
    model = LITv2('s').eval()
    head = (
        768 * 1000
        + 1000
        + 2 * 768
        - sum(p.numel() for n, p in model.named_parameters() if n.startswith('norm'))
    )
    assert abs((sum(p.numel() for p in model.parameters()) + head) / 1e6 - 27.84) < 0.01
    assert abs(count_macs(lambda: model(torch.randn(1, 3, 224, 224))) / 1e9 - 3.7) < 0.05


def test_get_flops_tool_writes_json(tmp_path) -> None:
    out = tmp_path / 'flops.json'
    subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools/analysis/get_flops.py'),
            'configs/sem_fpn/litv2_s_fpn_80k_ade20k.py',
            '--shape',
            '128',
            '128',
            '--json',
            str(out),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (result,) = json.loads(out.read_text())
    assert result['input_shape'] == [128, 128]
    assert 31 < result['params_m'] < 32 and 0 < result['backbone_gflops'] < result['gflops']
