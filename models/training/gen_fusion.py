#!/usr/bin/env python3
"""Training pairs for the learned renderer's fusion head (issue 18, stop 34): for each scene, the
picture at the lens's working resolution (halved, as the pipeline halves it, while the largest
blur exceeds the lens model's max_radius: r_max, or --max-radius for a model that renders above it), rendered there by both renderers of the deeplens binary given, beside the
truth brought to the same size.

  python models/training/gen_fusion.py --bin target/release/deeplens --out /work/data/fusion \
      --thinlens /work/data/thinlens_train --layered /work/data/lens/weak/train:400 /work/data/lens/bright/train:400

The binary's learned renderer must be the plain lens model (without a fusion head): that is the
output the fusion head learns to correct. Each scene writes NAME_{input,depth,truth,learned,
physical}.png and NAME.json (focus, max_blur at the working size); existing scenes are skipped, so
the command resumes."""
import argparse
import json
import os
import subprocess

import numpy as np
from PIL import Image

R_MAX = 24.0  # the lens model's r_max; the pipeline halves above its max_radius (--max-radius)


def halve_rgb(a):
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean((1, 3))


def scene_list(a):
    out = []
    for d in a.thinlens or []:
        for f in sorted(os.listdir(d)):
            if f.endswith(".json"):
                st = f[:-5]
                out.append((st, os.path.join(d, st + "_input.png"), os.path.join(d, st + "_depth.png"),
                            os.path.join(d, st + "_dof.png"), json.load(open(os.path.join(d, f)))))
    for spec in a.layered or []:
        d, n = spec.rsplit(":", 1)
        parts = d.rstrip("/").split("/")
        tag = parts[-2] if parts[-1] in ("train", "val", "test") else parts[-1]  # weak, bright
        names = sorted(f[:-5] for f in os.listdir(d) if f[0].isdigit() and f.endswith(".json"))[: int(n)]
        for i, st in enumerate(names):
            p = json.load(open(os.path.join(d, st + ".json")))
            # Half the layered scenes with the corrupted depth the lens legs also train on.
            dep = st + ("_depth_corrupt.png" if i % 2 else "_depth.png")
            out.append((f"{tag}_{st}{'c' if i % 2 else ''}", os.path.join(d, st + "_input.png"), os.path.join(d, dep),
                        os.path.join(d, st + "_target.png"), p))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--thinlens", nargs="*")
    ap.add_argument("--layered", nargs="*", metavar="DIR:COUNT")
    ap.add_argument("--max-radius", type=float, default=R_MAX,
                    help="the binary's lens model renders blurs up to this at its input size (metadata deeplens.max_radius)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    scenes = scene_list(a)
    done = 0
    for name, inp, dep, truth, p in scenes:
        o = lambda s: os.path.join(a.out, f"{name}_{s}.png")
        if os.path.exists(o("physical")):
            continue
        img = np.asarray(Image.open(inp).convert("RGB"), np.float64)
        d = np.asarray(Image.open(dep), np.float64)
        t = np.asarray(Image.open(truth).convert("RGB"), np.float64)
        blur = float(p["max_blur"])
        # The pipeline's working size: halve until the blur fits (and the width is at most 960,
        # its default working width; the scenes here are 640 wide or less).
        while blur > a.max_radius or img.shape[1] > 960:
            img, t, blur = halve_rgb(img), halve_rgb(t), blur / 2
            d = halve_rgb(d[..., None])[..., 0]
        Image.fromarray(np.rint(img).clip(0, 255).astype(np.uint8)).save(o("input"))
        Image.fromarray(np.rint(t).clip(0, 255).astype(np.uint8)).save(o("truth"))
        Image.fromarray(np.rint(d).clip(0, 65535).astype(np.uint16)).save(o("depth"))
        for r in ("learned", "physical"):
            c = [a.bin, "image", o("input"), o(r), "-y", "--depth", o("depth"), "--focus", str(p["focus"]),
                 "--max-blur", str(blur), "--renderer", r]
            res = subprocess.run(c, capture_output=True, text=True)
            if res.returncode:
                raise SystemExit(f"{name}: {res.stderr.strip()}")
        json.dump({"focus": p["focus"], "max_blur": blur, "source": inp}, open(os.path.join(a.out, name + ".json"), "w"))
        done += 1
    print(f"{done} scenes rendered, {len(scenes)} in all")


if __name__ == "__main__":
    main()
