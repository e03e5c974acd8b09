"""Evaluate a checkpoint of a detector (mmdet), segmentor (mmseg) or classifier (mmpretrain).

The checkpoint is a path or URL: a vitdense training checkpoint, or upstream's released file as
it is (its backbone layout is converted on loading). It is loaded strictly: a tensor that does
not fit stops the test, listing the keys.

Examples:
    python tools/test.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py work_dirs/x/epoch_12.pth
    python tools/test.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py \
        https://github.com/ziplab/LITv2/releases/download/v1.0/mask_rcnn_litv2_s_fpn_1x_coco.pth
    python tools/test.py configs/imagenet/sgformer_s_in1k.py sgformer_s.pth --checkpoint-key state_dict
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
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument(
        '--checkpoint-key',
        help="the file's entry holding the weights to test, e.g. state_dict_ema (default: the config's "
        'choice, else state_dict, or the whole file)',
    )
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
    show_dir = osp.abspath(show_dir)  # the hooks join a relative dir onto work_dir/timestamp
    if scope == 'mmpretrain':
        hook.update(enable=True, out_dir=show_dir)
        return
    hook.draw = True
    if scope == 'mmdet':
        hook.test_out_dir = show_dir
    else:
        hook.interval = 1
        cfg.visualizer.save_dir = show_dir


def main() -> None:
    """Build the runner from the config and run the test loop."""
    args = parse_args()
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg, scope = prepare_config(args)
    cfg.load_from = args.checkpoint
    hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'LoadCheckpointHook']
    chosen = next(
        (h.get('key') for h in cfg.get('custom_hooks', []) if h.get('type') == 'LoadCheckpointHook'), None
    )
    cfg.custom_hooks = [
        *hooks,
        dict(type='LoadCheckpointHook', key=args.checkpoint_key or chosen, strict=True),
    ]
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
