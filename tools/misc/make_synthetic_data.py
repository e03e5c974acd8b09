"""Write a synthetic data set in the exact COCO, ADE20K or ImageNet-1k layout.

Examples:
    python tools/misc/make_synthetic_data.py coco data/coco
    python tools/misc/make_synthetic_data.py ade20k data/ade/ADEChallengeData2016 --size 512
    python tools/misc/make_synthetic_data.py coco data/coco --size 480 640 --vary-size
    python tools/misc/make_synthetic_data.py imagenet data/imagenet --size 256 320
    python tools/train.py configs/mask_rcnn/litv2_s_fpn_1x_coco.py \
        --cfg-options train_dataloader.dataset.data_root=data/synthetic_coco/ ...
"""

from __future__ import annotations

import argparse

from vitdense.datasets import (
    ade20k_exists,
    coco_exists,
    imagenet_exists,
    make_ade20k,
    make_coco,
    make_imagenet,
)


def main() -> None:
    """Parse the arguments and write the data set."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('layout', choices=['coco', 'ade20k', 'imagenet'])
    parser.add_argument('root', help='destination folder (data_root of the configs)')
    parser.add_argument('--num-train', type=int, default=64)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--size', type=int, nargs='+', default=[320], help='image side, or height width')
    parser.add_argument('--max-objects', type=int, default=4, help='coco / ade20k: objects per image')
    parser.add_argument('--num-classes', type=int, default=4, help='imagenet: classes used (at most 4)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--vary-size',
        action='store_true',
        help="coco / ade20k: give each image one of COCO's common aspect ratios (landscape or portrait) "
        'at the longer side of --size',
    )
    parser.add_argument('--skip-existing', action='store_true', help='do nothing if the set is already there')
    args = parser.parse_args()
    size = (args.size[0], args.size[-1])
    exists, make = {
        'coco': (coco_exists, make_coco),
        'ade20k': (ade20k_exists, make_ade20k),
        'imagenet': (imagenet_exists, make_imagenet),
    }[args.layout]
    if args.skip_existing and exists(args.root):
        print(f'{args.layout} set already in {args.root}')
        return
    if args.layout == 'imagenet':
        if args.vary_size:
            parser.error('--vary-size is for coco and ade20k')
        make(args.root, args.num_train, args.num_val, size, args.num_classes, args.seed)
    else:
        make(args.root, args.num_train, args.num_val, size, args.max_objects, args.seed, args.vary_size)
    print(f'wrote a synthetic {args.layout} set ({args.num_train} train, {args.num_val} val) to {args.root}')


if __name__ == '__main__':
    main()
