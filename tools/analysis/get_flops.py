"""Parameters and FLOPs of a config's model at an input size.

FLOPs are multiply-adds, the convention of the published figures; see
``vitdense/utils/analysis.py`` for what is counted. Detection defaults to
800x1280 (the "1280x800" of the papers), segmentation to 512x512.

Examples:
    python tools/analysis/get_flops.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py
    python tools/analysis/get_flops.py configs/sem_fpn/litv2_s_fpn_80k_ade20k.py --shape 512 512
    python tools/analysis/get_flops.py mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py --json out.json
"""

from __future__ import annotations

import argparse
import json

from mmengine.config import DictAction

from vitdense.utils.analysis import measure_complexity


def main() -> None:
    """Print (and optionally write as JSON) params and FLOPs."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('config', nargs='+', help='config file(s) (or mmdet::/mmseg:: package configs)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='input height and width')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    args = parser.parse_args()

    results = []
    for config in args.config:
        result = dict(config=config, **measure_complexity(config, args.shape, args.cfg_options))
        results.append(result)
        h, w = result['input_shape']
        print(
            f'{config}\n  input {h}x{w}: params {result["params_m"]:.2f} M, FLOPs {result["gflops"]:.1f} G '
            f'(backbone {result["backbone_params_m"]:.2f} M, {result["backbone_gflops"]:.1f} G)'
        )
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
