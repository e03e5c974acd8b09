"""Evaluate a checkpoint of a detector (mmdet) or segmentor (mmseg).

Examples:
    python tools/test.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py work_dirs/x/epoch_12.pth
    python tools/test.py CONFIG CKPT --show-dir vis    # also draw the predictions
    bash tools/dist_test.sh CONFIG CKPT 8
"""

from __future__ import annotations

import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import vitdense  # noqa: F401  (registers the backbones and the checkpoint loaders)
from vitdense.utils.launch import (
    check_datasets,
    default_work_dir,
    load_config,
    redirect_data_root,
    task_scope,
)


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='config file (or mmdet::/mmseg:: package config)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation log goes')
    parser.add_argument('--show-dir', help='write images with the predictions drawn into this folder')
    parser.add_argument('--data-root', help='use the data set in this folder (e.g. a synthetic one)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys: a.b=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_visualization(cfg, scope: str, show_dir: str) -> None:
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
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    if args.data_root:
        redirect_data_root(cfg, args.data_root)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    scope = task_scope(cfg)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, scope, args.show_dir)
    check_datasets(cfg, ('test_dataloader',))
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
