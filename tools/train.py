"""Train a detector (mmdet) or segmentor (mmseg) from a config.

Examples:
    python tools/train.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py
    python tools/train.py CONFIG --amp --resume            # resume the latest checkpoint
    python tools/train.py CONFIG --resume work_dirs/x/iter_4000.pth
    bash tools/dist_train.sh CONFIG 8 --auto-scale-lr
"""

from __future__ import annotations

import argparse

import vitdense  # noqa: F401  (registers the backbones and the checkpoint loaders)
from vitdense.utils.launch import add_common_args, apply_amp, build_runner, check_datasets, prepare_config


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    add_common_args(parser)
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
    return parser.parse_args()


def main() -> None:
    """Build the runner from the config and train."""
    args = parse_args()
    cfg, _ = prepare_config(args)
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
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
