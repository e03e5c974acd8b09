"""Tile the first images of a folder into one PNG (e.g. the drawings of ``tools/test.py --show-dir``).

Example:
    python tools/misc/contact_sheet.py work_dirs/demo/predictions work_dirs/demo/predictions.png
"""

from __future__ import annotations

import argparse
import glob
import os.path as osp

import cv2
import numpy as np


def main() -> None:
    """Read up to ``--num`` images, resize them to a common height and tile them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('folder')
    parser.add_argument('out', help='output PNG')
    parser.add_argument('--num', type=int, default=8)
    parser.add_argument('--cols', type=int, default=4)
    parser.add_argument('--height', type=int, default=256)
    args = parser.parse_args()
    paths = sorted(glob.glob(osp.join(args.folder, '*.jpg')) + glob.glob(osp.join(args.folder, '*.png')))
    if not paths:
        raise FileNotFoundError(f'no images in {args.folder}')
    tiles = []
    for path in paths[: args.num]:
        img = cv2.imread(path)
        tiles.append(cv2.resize(img, (round(img.shape[1] * args.height / img.shape[0]), args.height)))
    width = max(t.shape[1] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, 0, 0, width - t.shape[1], cv2.BORDER_CONSTANT) for t in tiles]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % args.cols)
    rows = [np.hstack(tiles[i : i + args.cols]) for i in range(0, len(tiles), args.cols)]
    cv2.imwrite(args.out, np.vstack(rows))
    print(f'wrote {args.out} ({min(len(paths), args.num)} images)')


if __name__ == '__main__':
    main()
