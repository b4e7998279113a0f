#!/usr/bin/env python3
"""Pack a folder written by gen_depth_blender.py into the npz the depth trainer reads:
rgb uint8 [N,H,W,3], disp uint16 [N,H,W] (1/Z min-max normalised per picture, 65535 = nearest,
0 = the sky), fg uint8 [N,H,W] (255 on the objects).

  python models/training/depth_npz.py /work/data/depth_blender/train /work/data/depth/blender_0.npz
"""
import glob
import os
import sys

import numpy as np
from PIL import Image


def pack(folder):
    rgb, disp, fg = [], [], []
    for raw in sorted(glob.glob(os.path.join(folder, "[0-9]*.raw"))):
        img = np.asarray(Image.open(raw[:-4] + ".png").convert("RGB"))
        h, w = img.shape[:2]
        zi = np.fromfile(raw, np.float32).reshape(h, w, 2)[::-1]  # Blender's rows are bottom first
        d = 1.0 / np.clip(zi[..., 0], 0.05, 1e6)
        d = (d - d.min()) / max(d.max() - d.min(), 1e-9)
        rgb.append(img)
        disp.append(np.round(d * 65535).astype(np.uint16))
        fg.append(np.where(zi[..., 1] > 0.5, 255, 0).astype(np.uint8))
    return np.stack(rgb), np.stack(disp), np.stack(fg)


def main():
    folder, out = sys.argv[1], sys.argv[2]
    rgb, disp, fg = pack(folder)
    np.savez(out, rgb=rgb, disp=disp, fg=fg)
    print(f"{len(rgb)} samples -> {out}")


if __name__ == "__main__":
    main()
