#!/usr/bin/env python3
"""Held-out evaluation of the learned lens blur + guided upsampling (ONNX) on layered synthetic
samples written by the synth example with a seed never used for training.

The chain is the pipeline's: halve (area) until the blur fits r_max, lens.onnx there with
signed_depth = (D - d_f)·(max_blur/2^k)/r_max, then upsample.onnx ×2 per halving back to full size
(`--halvings N` forces N, e.g. 1 to score the upsampler on blurs that would fit at full size).  Scores against the
layered ground truth: PSNR, SSIM, and PSNR in the edge band (pixels within max(2, max_blur/2) px of
a depth discontinuity of the true depth), with the true or the corrupted depth as input.

  python models/training/eval_lens.py --data /work/data/lens/test [--models models] [--depth true|corrupt]
"""
import argparse
import json
import os

import cv2
import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from synth_io import imread, read_sample, to_unit

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
    def __init__(self, models, physical_bin=None):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        self.lens = ort.InferenceSession(os.path.join(models, "lens.onnx"), so, providers=["CPUExecutionProvider"])
        self.ups = ort.InferenceSession(os.path.join(models, "upsample.onnx"), so, providers=["CPUExecutionProvider"])
        meta = self.lens.get_modelmeta().custom_metadata_map
        self.r_max = float(meta["deeplens.r_max"])
        # The largest blur the lens model renders at its input size (above r_max: see export_lens.py).
        self.max_radius = float(meta.get("deeplens.max_radius", self.r_max))
        # A lens model with a fusion head takes the physical renderer's picture at the working size,
        # made as the program makes it (highlight boost 1, as for 8-bit sources).
        self.fused = "physical" in [i.name for i in self.lens.get_inputs()]
        if self.fused and not physical_bin:
            raise SystemExit("this lens model has a fusion head: pass --physical BIN (the render_file example) to render its input")
        self.physical_bin = physical_bin

    def render(self, rgb, depth, focus, max_blur, halvings=None):
        """rgb [3,H,W], depth [H,W] at full size; max_blur in full-size pixels.  As the pipeline:
        halve until the blur fits the lens model's max_radius (r_max unless it says more; or
        `halvings` times), lens there, ×2 guided upsampling back to full size (the upsampler's
        signed depth limited to α ≤ 1 as the program gives it)."""
        if halvings is None:
            halvings = 0
            while max_blur / 2 ** halvings > self.max_radius:
                halvings += 1
        imgs, deps = [rgb[None].astype(np.float32)], [depth[None, None].astype(np.float32)]
        for _ in range(halvings):
            imgs.append(area_down2(imgs[-1])); deps.append(area_down2(deps[-1]))
        sd = lambda k, most=np.inf: ((deps[k] - focus) * min(max_blur / 2 ** k / self.r_max, most)).astype(np.float32)
        feed = {"image": imgs[-1], "signed_depth": sd(halvings)}
        if self.fused:
            feed["physical"] = physical(self.physical_bin, imgs[-1][0], deps[-1][0, 0], focus, max_blur / 2 ** halvings, 1.0)[None].astype(np.float32)
        out = self.lens.run(["blur"], feed)[0]
        for k in range(halvings, 0, -1):
            out = self.ups.run(["output"], {"guide": imgs[k - 1], "low_image": imgs[k], "low_blur": out,
                                            "low_signed_depth": sd(k, 1.0)})[0]
        return np.clip(out[0], 0, 1)


def load_sample(stem):
    inp, tgt, dep, cor, j = read_sample(stem)
    return to_unit(inp).transpose(2, 0, 1), to_unit(tgt).transpose(2, 0, 1), to_unit(dep), to_unit(cor), j


def score(out, tgt, dep, max_blur):
    band = edge_band(dep, max_blur / 2)
    return {"psnr": psnr(out, tgt), "ssim": float(structural_similarity(out, tgt, channel_axis=0, data_range=1.0)),
            "edge_psnr": psnr(out, tgt, np.broadcast_to(band, out.shape))}


def synth_items(folder, limit=None):
    """(name, input, truth, depth, corrupted depth, focus, max_blur, extra renders) of a synth folder."""
    import glob
    for stem in sorted(p[:-5] for p in glob.glob(os.path.join(folder, "[0-9]*.json")))[:limit]:
        inp, tgt, dep, cor, j = load_sample(stem)
        yield os.path.basename(stem), inp, tgt, dep, cor, j["focus"], j["max_blur"], {}


def thinlens_items(folder):
    """Blender Cycles thin-lens scenes (NAME_input/_depth/_dof/_defocus.png + NAME.json)."""
    import glob
    for js in sorted(glob.glob(os.path.join(folder, "*.json"))):
        stem = js[:-5]
        j = json.load(open(js))
        inp = to_unit(imread(stem + "_input.png")[..., :3]).transpose(2, 0, 1)
        tgt = to_unit(imread(stem + "_dof.png")[..., :3]).transpose(2, 0, 1)
        dep = to_unit(imread(stem + "_depth.png"))
        extra = {}
        if os.path.exists(stem + "_defocus.png"):
            extra["blender_defocus"] = to_unit(imread(stem + "_defocus.png")[..., :3]).transpose(2, 0, 1)
        yield os.path.basename(stem), inp, tgt, dep, dep, j["focus"], j["max_blur"], extra


def physical(binary, inp, depth, focus, max_blur, boost=0.0):
    """The Rust physical renderer (examples/render_file) on the same input, read back at 16 bits."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        i, d, o = (os.path.join(t, n) for n in ("in.png", "d.png", "out.png"))
        cv2.imwrite(i, np.round(inp.transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8))
        cv2.imwrite(d, np.round(np.clip(depth, 0, 1) * 65535).astype(np.uint16))
        subprocess.run([binary, i, o, "--depth", d, "--focus", str(focus), "--max-blur", str(max_blur),
                        "--renderer", "physical", "--sixteen",
                        "--highlight-boost", str(boost)], check=True, capture_output=True)
        a = imread(o)[..., :3]
        return to_unit(a).transpose(2, 0, 1)


def evaluate(items, models, which="true", physical_bin=None, halvings=None, boost=0.0):
    r = Learned(models, physical_bin)
    rows = {}
    for name, inp, tgt, dep, cor, focus, max_blur, extra in items:
        d = dep if which == "true" else cor
        outs = {"learned": r.render(inp, d, focus, max_blur, halvings), **extra}
        if physical_bin:
            outs["physical"] = physical(physical_bin, inp, d, focus, max_blur, boost)
        for k, out in outs.items():
            rows.setdefault(k, []).append(score(out, tgt, dep, max_blur))
    return {k: {m: round(float(np.nanmean([x[m] for x in v])), 3) for m in v[0]} | {"samples": len(v)}
            for k, v in rows.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/data/lens/test")
    ap.add_argument("--thinlens", default=None, help="folder of Blender thin-lens scenes instead of --data")
    ap.add_argument("--models", default=os.path.dirname(HERE))
    ap.add_argument("--depth", choices=["true", "corrupt"], default="true")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--physical-boost", type=float, default=0.0,
                    help="highlight boost for the physical renderer (deeplens image uses 1 for 8-bit inputs)")
    ap.add_argument("--halvings", type=int, default=None, help="working-resolution halvings (default: until the blur fits r_max)")
    ap.add_argument("--physical", default=None, metavar="BIN",
                    help="also score the Rust physical renderer: path of the built render_file example")
    a = ap.parse_args()
    items = thinlens_items(a.thinlens) if a.thinlens else synth_items(a.data, a.limit)
    print(json.dumps(evaluate(items, a.models, a.depth, a.physical, a.halvings, a.physical_boost)))


if __name__ == "__main__":
    main()
