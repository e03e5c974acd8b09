"""Evaluate a checkpoint of a detector (mmdet) or segmentor (mmseg).

Examples:
    python tools/test.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py work_dirs/x/epoch_12.pth
    python tools/test.py CONFIG CKPT --show-dir vis    # also draw the predictions
    bash tools/dist_test.sh CONFIG CKPT 8 --out-metrics work_dirs/x/metrics.json
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp

from mmengine.config import Config
from mmengine.dist import is_main_process

import vitdense  # noqa: F401  (registers the backbones and the checkpoint loaders)
from vitdense.utils.launch import add_common_args, build_runner, check_datasets, prepare_config


def parse_args() -> argparse.Namespace:
    """Command-line arguments (the checkpoint follows the config)."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint')
    add_common_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--show-dir', help='write images with the predictions drawn into this folder')
    parser.add_argument(
        '--out-metrics', help='also write the metrics to this JSON file (e.g. to compare runs)'
    )
    return parser.parse_args()


def enable_visualization(cfg: Config, scope: str, show_dir: str) -> None:
    """Turn on the task's visualization hook, writing into ``show_dir``."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise KeyError('--show-dir needs default_hooks.visualization in the config')
    hook.draw = True
    show_dir = osp.abspath(show_dir)  # the hooks join a relative dir onto work_dir/timestamp
    if scope == 'mmdet':
        hook.test_out_dir = show_dir
    else:
        hook.interval = 1
        cfg.visualizer.save_dir = show_dir


def main() -> None:
    """Build the runner from the config and run the test loop."""
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg, scope = prepare_config(args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, scope, args.show_dir)
    check_datasets(cfg, ('test_dataloader',))
    metrics = build_runner(cfg).test()
    if args.out_metrics and is_main_process():
        os.makedirs(osp.dirname(osp.abspath(args.out_metrics)), exist_ok=True)
        with open(args.out_metrics, 'w') as f:
            json.dump(metrics, f, indent=1, sort_keys=True, default=float)


if __name__ == '__main__':
    main()
