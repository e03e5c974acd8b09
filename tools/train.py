"""Train a detector (mmdet) or segmentor (mmseg) from a config.

Examples:
    python tools/train.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py
    python tools/train.py CONFIG --amp --resume            # resume the latest checkpoint
    python tools/train.py CONFIG --resume work_dirs/x/iter_4000.pth
    bash tools/dist_train.sh CONFIG 8 --auto-scale-lr
"""

from __future__ import annotations

import argparse
import os

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import vitdense  # noqa: F401  (registers the backbones and the checkpoint loaders)
from vitdense.utils.launch import (
    apply_amp,
    check_datasets,
    default_work_dir,
    load_config,
    redirect_data_root,
    task_scope,
)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    parser.add_argument('config', help='config file (or mmdet::/mmseg:: package config)')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by (GPUs x batch per GPU) / auto_scale_lr.base_batch_size',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or from the latest one in the work dir if no path is given',
    )
    parser.add_argument('--data-root', help='use the data set in this folder (e.g. a synthetic one)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys: a.b=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    """Build the runner from the config and train."""
    args = parse_args()
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    if args.data_root:
        redirect_data_root(cfg, args.data_root)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    task_scope(cfg)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    apply_amp(cfg, args.amp)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    check_datasets(cfg, ('train_dataloader', 'val_dataloader'))
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
