#!/usr/bin/env python3
"""How much of a person's fine detail autofocus keeps (issue 13's autofocus measure).

Runs `deeplens convert IN OUT --autofocus [ARGS]`, decodes input and output with the ffmpeg CLI, finds
the people in each input frame with the MediaPipe selfie-segmentation teacher (an evaluation tool
only: the program never loads it), and reports the share of high-frequency energy (squared Laplacian
of the luma) each region keeps: inside the people (mask eroded, so the boundary's own blur does not
count) and in the background (mask dilated, then inverted). A sharp subject keeps ~100 %, a blurred
one much less.

  python models/training/eval_autofocus.py --deeplens target/release/deeplens IN.mp4 [-- ARGS]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
TEACHERS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "teachers"))


def frames(path, size=None):
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                       "stream=width,height", "-of", "json", path],
                                      check=True, capture_output=True).stdout)["streams"][0]
    w, h = size or (probe["width"], probe["height"])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vf", f"scale={w}:{h}", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3), (w, h)


def laplace_energy(rgb):
    y = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return np.pad(lap * lap, 1)


def person_masks(video, teachers, grow):
    s = ort.InferenceSession(os.path.join(teachers, "selfie_segmentation.onnx"), providers=["CPUExecutionProvider"])
    h, w = video.shape[1:3]
    out = []
    for f in video:
        x = np.asarray(Image.fromarray(f).resize((256, 256), Image.BILINEAR), np.float32)[None] / 255
        p = s.run(None, {"input_1:0": x})[0][0, :, :, 0]
        m = Image.fromarray((p > 0.5).astype(np.uint8) * 255).resize((w, h), Image.NEAREST)
        inner = np.asarray(m.filter(ImageFilter.MinFilter(2 * grow + 1))) > 0
        outer = np.asarray(m.filter(ImageFilter.MaxFilter(4 * grow + 1))) > 0
        out.append((inner, ~outer))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--deeplens", default=os.path.join(HERE, "..", "..", "target", "release", "deeplens"))
    ap.add_argument("--teachers", default=TEACHERS)
    ap.add_argument("--grow", type=int, default=4, help="mask erosion (and twice that dilation) in pixels")
    ap.add_argument("--min-person", type=float, default=0.01, help="skip frames where people cover less")
    ap.add_argument("--keep", default=None, help="keep the converted clip here")
    ap.add_argument("args", nargs="*", help="extra convert flags (after --)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = a.keep or os.path.join(tmp, "out.mp4")
        subprocess.run([a.deeplens, "convert", a.input, out, "-y", "--autofocus", *a.args], check=True,
                       stdout=subprocess.DEVNULL)
        src, size = frames(a.input)
        dst, _ = frames(out, size)
    n = min(len(src), len(dst))
    ins, outs = [], []
    for f, g, (inner, bg) in zip(src[:n], dst[:n], person_masks(src[:n], a.teachers, a.grow)):
        if inner.mean() < a.min_person:
            continue
        es, ed = laplace_energy(f), laplace_energy(g)
        ins.append(ed[inner].sum() / max(es[inner].sum(), 1e-9))
        outs.append(ed[bg].sum() / max(es[bg].sum(), 1e-9))
    if not ins:
        sys.exit("no frame shows a person")
    r = {"clip": os.path.basename(a.input), "frames": n, "frames_with_person": len(ins),
         "person_detail_kept": round(float(np.median(ins)), 4), "background_detail_kept": round(float(np.median(outs)), 4)}
    print(json.dumps(r))


if __name__ == "__main__":
    main()
