#!/usr/bin/env python3
"""Held-out ordinal depth evaluation of a depth ONNX model on real photographs.

Test images (never used for training or tuning):
  * skimage `motorcycle_left.png` with `motorcycle_disp.npz` (Middlebury-style disparity, inf = unknown)
  * opencv-doc `aloeL.jpg` with `aloeGT.png` (disparity, 0 = unknown)

Metric: ordinal agreement on random pixel pairs whose ground-truth disparities differ by more than
`--ratio` (relative); predicted ties count one half.  The same pairs are scored for a vertical ramp
(bottom of the picture nearer), the baseline the model has to beat.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

SKI = None


def skimage_data_dir():
    import skimage
    return os.path.join(os.path.dirname(skimage.__file__), "data")


def load_sets():
    sets = []
    d = skimage_data_dir()
    img = np.asarray(Image.open(os.path.join(d, "motorcycle_left.png")).convert("RGB"))
    gt = np.load(os.path.join(d, "motorcycle_disp.npz"))["arr_0"].astype(np.float64)
    valid = np.isfinite(gt) & (gt > 0)
    sets.append(("motorcycle", img, np.where(valid, gt, 0.0), valid))
    base = "/usr/share/doc/opencv-doc/examples/data"
    if os.path.exists(os.path.join(base, "aloeL.jpg")):
        img = np.asarray(Image.open(os.path.join(base, "aloeL.jpg")).convert("RGB"))
        gt = np.asarray(Image.open(os.path.join(base, "aloeGT.png"))).astype(np.float64)
        if gt.ndim == 3:
            gt = gt[..., 0]
        sets.append(("aloe", img, gt, gt > 0))
    else:
        print("warning: opencv-doc not installed (apt-get install -y opencv-doc); aloe skipped",
              file=sys.stderr)
    return sets


def sample_pairs(gt, valid, n, ratio, rng):
    ys, xs = np.nonzero(valid)
    i = rng.integers(0, len(ys), size=(n * 3, 2))
    a, b = i[:, 0], i[:, 1]
    ga, gb = gt[ys[a], xs[a]], gt[ys[b], xs[b]]
    keep = np.abs(ga - gb) > ratio * np.maximum(ga, gb)
    a, b = a[keep][:n], b[keep][:n]
    return (ys[a], xs[a]), (ys[b], xs[b])


def ordinal(pred, gt, pa, pb):
    s_gt = np.sign(gt[pa] - gt[pb])
    s_p = np.sign(pred[pa] - pred[pb])
    return float(np.mean(np.where(s_p == 0, 0.5, (s_p == s_gt).astype(np.float64))))


def fit_size(h, w, long_side, multiple):
    s = long_side / max(h, w)
    nh = max(multiple, int(round(h * s / multiple)) * multiple)
    nw = max(multiple, int(round(w * s / multiple)) * multiple)
    return nh, nw


def run_model(sess, img, long_side, multiple):
    h, w = img.shape[:2]
    nh, nw = fit_size(h, w, long_side, multiple)
    x = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR), np.float32) / 255.0
    x = x.transpose(2, 0, 1)[None]
    out = sess.run(["depth"], {"image": x})[0][0, 0]
    return np.asarray(Image.fromarray(out.astype(np.float32)).resize((w, h), Image.BILINEAR))


def evaluate(model_path, n_pairs=50000, ratio=0.03, seed=0, long_side=None, save_dir=None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    multiple = int(meta.get("deeplens.input_multiple", 32))
    long_side = long_side or int(meta.get("deeplens.input_long_side", 320))
    results = {}
    for name, img, gt, valid in load_sets():
        rng = np.random.default_rng(seed)
        pa, pb = sample_pairs(gt, valid, n_pairs, ratio, rng)
        pred = run_model(sess, img, long_side, multiple)
        h = gt.shape[0]
        ramp = np.repeat(np.arange(h, dtype=np.float64)[:, None], gt.shape[1], 1)
        results[name] = {"model": ordinal(pred, gt, pa, pb), "ramp": ordinal(ramp, gt, pa, pb),
                         "pairs": int(len(pa[0]))}
        if save_dir:
            os.makedirs(save_dir, exist_ok=True)
            p = (pred - pred.min()) / max(1e-9, pred.max() - pred.min())
            Image.fromarray((p * 255).astype(np.uint8)).save(os.path.join(save_dir, f"{name}_pred.png"))
    results["mean"] = {k: float(np.mean([results[n][k] for n in results])) for k in ("model", "ramp")}
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "depth.onnx"))
    ap.add_argument("--pairs", type=int, default=50000)
    ap.add_argument("--ratio", type=float, default=0.03, help="ignore pairs whose GT differs less (relative)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--long-side", type=int, default=None, help="override deeplens.input_long_side")
    ap.add_argument("--save", default=None, help="folder for predicted depth PNGs")
    a = ap.parse_args()
    r = evaluate(a.model, a.pairs, a.ratio, a.seed, a.long_side, a.save)
    for k, v in r.items():
        extra = f"  ({v['pairs']} pairs)" if "pairs" in v else ""
        print(f"{k:11s} model {v['model']:.4f}   vertical ramp {v['ramp']:.4f}{extra}")


if __name__ == "__main__":
    main()
