#!/usr/bin/env python3
"""Held-out evaluation of the learned lens blur + guided upsampling (ONNX) on layered synthetic
samples written by the synth example with a seed never used for training.

The chain is the pipeline's: lens.onnx at half size on the area-downsampled input with
signed_depth = (D - d_f)·(max_blur/2)/r_max, then upsample.onnx to full size.  Scores against the
layered ground truth: PSNR, SSIM, and PSNR in the edge band (pixels within max(2, max_blur/2) px of
a depth discontinuity of the true depth), with the true or the corrupted depth as input.

  python models/training/eval_lens.py --data /work/data/lens/test [--models models] [--depth true|corrupt]
"""
import argparse
import json
import os

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from synth_io import read_sample

HERE = os.path.dirname(os.path.abspath(__file__))


def psnr(a, b, mask=None):
    e = (a - b) ** 2
    if mask is not None:
        if mask.sum() == 0:
            return float("nan")
        e = e[mask]
    return float(10 * np.log10(1.0 / max(np.mean(e), 1e-12)))


def edge_band(depth, radius):
    gx = np.abs(np.diff(depth, axis=1, prepend=depth[:, :1]))
    gy = np.abs(np.diff(depth, axis=0, prepend=depth[:1]))
    edges = np.maximum(gx, gy) > 0.02
    r = int(max(2, round(radius)))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return ndimage.binary_dilation(edges, structure=(xx * xx + yy * yy) <= r * r)


def area_down2(x):
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    return 0.25 * (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2])


class Learned:
    def __init__(self, models):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        self.lens = ort.InferenceSession(os.path.join(models, "lens.onnx"), so, providers=["CPUExecutionProvider"])
        self.ups = ort.InferenceSession(os.path.join(models, "upsample.onnx"), so, providers=["CPUExecutionProvider"])
        self.r_max = float(self.lens.get_modelmeta().custom_metadata_map["deeplens.r_max"])

    def render(self, rgb, depth, focus, max_blur):
        """rgb [3,H,W], depth [H,W] at full size; max_blur in full-size pixels."""
        a = rgb[None].astype(np.float32)
        a_lo = area_down2(a)
        sd = ((area_down2(depth[None, None]) - focus) * (max_blur / 2) / self.r_max).astype(np.float32)
        blur = self.lens.run(["blur"], {"image": a_lo, "signed_depth": sd})[0]
        out = self.ups.run(["output"], {"guide": a, "low_image": a_lo, "low_blur": blur, "low_signed_depth": sd})[0]
        return np.clip(out[0], 0, 1)


def load_sample(stem):
    inp, tgt, dep, cor, j = read_sample(stem)
    return (inp.astype(np.float32).transpose(2, 0, 1) / 255, tgt.astype(np.float32).transpose(2, 0, 1) / 65535,
            dep.astype(np.float32) / 65535, cor.astype(np.float32) / 65535, j)


def score(out, tgt, dep, max_blur):
    band = edge_band(dep, max_blur / 2)
    return {"psnr": psnr(out, tgt), "ssim": float(structural_similarity(out, tgt, channel_axis=0, data_range=1.0)),
            "edge_psnr": psnr(out, tgt, np.broadcast_to(band, out.shape))}


def evaluate(folder, models, which="true", limit=None):
    import glob
    stems = sorted(p[:-5] for p in glob.glob(os.path.join(folder, "[0-9]*.json")))[:limit]
    r = Learned(models)
    rows = []
    for s in stems:
        inp, tgt, dep, cor, j = load_sample(s)
        d = dep if which == "true" else cor
        out = r.render(inp, d, j["focus"], j["max_blur"])
        rows.append(score(out, tgt, dep, j["max_blur"]))
    return {k: float(np.nanmean([x[k] for x in rows])) for k in rows[0]} | {"samples": len(rows)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/data/lens/test")
    ap.add_argument("--models", default=os.path.dirname(HERE))
    ap.add_argument("--depth", choices=["true", "corrupt"], default="true")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    print(json.dumps(evaluate(a.data, a.models, a.depth, a.limit)))


if __name__ == "__main__":
    main()
