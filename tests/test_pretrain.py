"""Pre-train -> fine-tune: tools/train.py pre-trains a backbone on a tiny synthetic ImageNet (the
SpectFormer one with token labels, a CBS ViT with its scales), and the dense config initialised from
that checkpoint loads every backbone tensor strictly and trains a step."""

from __future__ import annotations

import re

import pytest
import torch
from test_tools import FAST_DATA, SMALL_ADE20K, run_tool

from vitdense.datasets import make_ade20k, make_imagenet
from vitdense.utils import load_from_local

SMALL_IMAGENET = {  # the crop(s) of each protocol's training pipeline, and evaluation, at 64 px
    'spectformer_h-s_tl_in1k': [
        'train_dataloader.dataset.pipeline.4.transforms.0.0.scale=64',
        'train_dataloader.dataset.pipeline.4.transforms.1.0.scale=64',
    ],
    'cbvit_cbs_ti_in1k': ['train_dataloader.dataset.pipeline.1.scale=64'],
}
ONE_ADE20K_STEP = [
    *SMALL_ADE20K,
    'train_dataloader.batch_size=2',
    'train_cfg.max_iters=1',
    'train_cfg.val_interval=1',
    'default_hooks.logger.interval=1',
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ('pretrain', 'dense', 'dropped'),
    [
        ('spectformer_h-s_tl_in1k', 'sem_fpn/spectformer_h-s_fpn_80k_ade20k', 'post_network.'),
        # the same path through UperNet, with CBS scales: in the sweep (keeps the default suite near 15 min)
        pytest.param(
            'cbvit_cbs_ti_in1k', 'upernet/cbvit_cbs_ti_40k_ade20k', 'norm.', marks=pytest.mark.sweep
        ),
    ],
)
def test_pretrained_checkpoint_initialises_the_dense_config(tmp_path, pretrain, dense, dropped) -> None:
    imagenet, ade, work = tmp_path / 'imagenet', tmp_path / 'ade', tmp_path / 'work'
    make_imagenet(imagenet, num_train=8, num_val=4, image_size=(96, 128))
    make_ade20k(ade, num_train=2, num_val=1, image_size=(96, 128))
    log = run_tool(
        'train.py',
        f'configs/imagenet/{pretrain}.py',
        '--data-root',
        str(imagenet),
        '--work-dir',
        str(work),
        '--cfg-options',
        'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=4',
        'val_dataloader.batch_size=4',
        'val_dataloader.dataset.pipeline.1.scale=64',
        'val_dataloader.dataset.pipeline.2.crop_size=64',
        *SMALL_IMAGENET[pretrain],
        *FAST_DATA,
    )
    assert 'Epoch(train) [1][2/2]' in log and 'accuracy/top1' in log
    checkpoint = work / 'epoch_1.pth'
    backbone = {k for k in load_from_local(str(checkpoint))['state_dict'] if k.startswith('backbone.')}
    if pretrain.startswith('cbvit_cbs'):
        assert any(k.endswith('cb_mlp.scale') for k in backbone)  # the CBS scales are trained, and kept

    log = run_tool(
        'train.py',
        f'configs/{dense}.py',
        '--data-root',
        str(ade),
        '--work-dir',
        str(tmp_path / 'dense'),
        '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={checkpoint}',
        *ONE_ADE20K_STEP,
        *FAST_DATA,
    )
    loaded = int(re.search(rf'loaded (\d+) tensors from {re.escape(str(checkpoint))}', log).group(1))
    unused = [k for k in backbone if k[len('backbone.') :].startswith(dropped)]
    assert unused and loaded == len(backbone) - len(unused)  # every other backbone tensor, by name
    assert 'newly initialised' not in log and 'Iter(train) [1/1]' in log
    assert torch.isfinite(
        torch.tensor(float(re.search(r'Iter\(train\) \[1/1\].*? loss: ([\d.]+)', log).group(1)))
    )
