r"""Run a detector, segmentor or classifier of a config on an image and draw the result.

It goes through the OpenMMLab inferencers (mmdet's ``DetInferencer``, mmseg's
``MMSegInferencer``, mmpretrain's ``ImageClassificationInferencer``): their pre-processing, post-
processing and drawing, with the config's model and the weights given, a vitdense checkpoint or
upstream's released file as it is.

Examples:
    python demo/image_demo.py demo.jpg configs/mask_rcnn/litv2_s_fpn_1x_coco.py \\
        --weights https://github.com/ziplab/LITv2/releases/download/v1.0/mask_rcnn_litv2_s_fpn_1x_coco.pth
    python demo/image_demo.py demo.jpg configs/sem_fpn/litv2_s_fpn_80k_ade20k.py --weights FILE --device cpu
    python demo/image_demo.py demo.jpg configs/imagenet/litv2_s_in1k.py --weights FILE --out-dir outputs
"""

from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import shutil
import tempfile

import vitdense  # noqa: F401  (registers the models and the checkpoint loaders)
from vitdense.utils.checkpoint_io import TRUST_HELP, trust_from_args
from vitdense.utils.launch import load_config, task_scope


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description="Draw a model's result on an image")
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('--weights', required=True, help='checkpoint file or URL')
    parser.add_argument('--out-dir', default='outputs', help='the drawn image goes here')
    parser.add_argument('--device', default=None, help='e.g. cpu, cuda:0 (default: cuda if available)')
    parser.add_argument(
        '--score-thr', type=float, default=0.3, help='detection: boxes drawn above this score'
    )
    parser.add_argument('--trust-checkpoint', action='append', metavar='FILE_OR_URL', help=TRUST_HELP)
    return parser.parse_args()


def infer(image: str, config: str, weights: str, out_dir: str, device: str | None, score_thr: float) -> str:
    """Run the task's inferencer on ``image``; returns the path of the drawn result in ``out_dir``."""
    scope = task_scope(load_config(config))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if scope == 'mmdet':
            from mmdet.apis import DetInferencer

            DetInferencer(model=config, weights=weights, device=device)(
                image, out_dir=tmp, pred_score_thr=score_thr, no_save_pred=True
            )
        elif scope == 'mmseg':
            from mmseg.apis import MMSegInferencer

            MMSegInferencer(model=config, weights=weights, device=device)(image, out_dir=tmp)
        else:
            from mmpretrain.apis import ImageClassificationInferencer
            from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

            inferencer = ImageClassificationInferencer(model=config, pretrained=weights, device=device)
            if not (getattr(inferencer.model, 'dataset_meta', None) or {}).get('classes'):
                inferencer.classes = IMAGENET_CATEGORIES  # upstream's files carry no class names
            inferencer(image, show_dir=osp.join(tmp, 'vis'))
        drawn = sorted(glob.glob(osp.join(tmp, 'vis', '*')))
        if not drawn:
            raise RuntimeError(f'the {scope} inferencer drew no image for {image}')
        out_file = osp.join(out_dir, osp.splitext(osp.basename(image))[0] + osp.splitext(drawn[0])[1])
        shutil.move(drawn[0], out_file)
    return out_file


def main() -> None:
    """Draw the result and print where it went."""
    args = parse_args()
    trust_from_args(args.trust_checkpoint)
    print(infer(args.image, args.config, args.weights, args.out_dir, args.device, args.score_thr))


if __name__ == '__main__':
    main()
