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


def predictor(path, long_side=None):
    """A function RGB uint8 array -> disparity map at the image's size, for an .onnx model (input
    multiple and default long side from its metadata) or a training checkpoint (.pt: 32, 192)."""
    multiple, default_side = 32, 192
    if path.endswith(".onnx"):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        meta = sess.get_modelmeta().custom_metadata_map
        multiple = int(meta.get("deeplens.input_multiple", multiple))
        default_side = int(meta.get("deeplens.input_long_side", 320))
        run = lambda x: sess.run(["depth"], {"image": x})[0][0, 0]
    else:
        import torch
        from depth_net import DepthNet
        net = DepthNet()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
        net.eval()

        def run(x):
            with torch.no_grad():
                return net(torch.from_numpy(x))[0][0, 0].numpy()
    side = long_side or default_side

    def predict(img):
        h, w = img.shape[:2]
        nh, nw = fit_size(h, w, side, multiple)
        x = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR), np.float32) / 255.0
        out = run(x.transpose(2, 0, 1)[None])
        return np.asarray(Image.fromarray(out.astype(np.float32)).resize((w, h), Image.BILINEAR))
    return predict


def ramp_like(gt):
    """The baseline: a vertical ramp, bottom of the picture nearest."""
    return np.repeat(np.arange(gt.shape[0], dtype=np.float64)[:, None], gt.shape[1], 1)


def evaluate_npz(path, model, n_pairs=2000, ratio=0.03, seed=0, long_side=None):
    """Mean ordinal agreement (model, vertical ramp) over the scenes of a packed synthetic set
    (depth_npz.py / gen_depth.py output): held-out renders, scored like the photos."""
    d = np.load(path)
    predict = predictor(model, long_side)
    rng = np.random.default_rng(seed)
    m, r = [], []
    for rgb, disp in zip(d["rgb"], d["disp"]):
        gt = disp.astype(np.float64) / 65535 + 1e-3
        pa, pb = sample_pairs(gt, np.ones(gt.shape, bool), n_pairs, ratio, rng)
        m.append(ordinal(predict(rgb), gt, pa, pb))
        r.append(ordinal(ramp_like(gt), gt, pa, pb))
    return float(np.mean(m)), float(np.mean(r)), len(m)


def evaluate(model_path, n_pairs=50000, ratio=0.03, seed=0, long_side=None, save_dir=None):
    predict = predictor(model_path, long_side)
    results = {}
    for name, img, gt, valid in load_sets():
        rng = np.random.default_rng(seed)
        pa, pb = sample_pairs(gt, valid, n_pairs, ratio, rng)
        pred = predict(img)
        results[name] = {"model": ordinal(pred, gt, pa, pb), "ramp": ordinal(ramp_like(gt), gt, pa, pb),
                         "pairs": int(len(pa[0]))}
        if save_dir:
            os.makedirs(save_dir, exist_ok=True)
            p = (pred - pred.min()) / max(1e-9, pred.max() - pred.min())
            Image.fromarray((p * 255).astype(np.uint8)).save(os.path.join(save_dir, f"{name}_pred.png"))
    results["mean"] = {k: float(np.mean([results[n][k] for n in results])) for k in ("model", "ramp")}
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "depth.onnx"),
                    help="an .onnx model or a training checkpoint (.pt)")
    ap.add_argument("--pairs", type=int, default=50000)
    ap.add_argument("--ratio", type=float, default=0.03, help="ignore pairs whose GT differs less (relative)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--long-side", type=int, default=None, help="override deeplens.input_long_side")
    ap.add_argument("--save", default=None, help="folder for predicted depth PNGs")
    ap.add_argument("--npz", default=None,
                    help="score held-out synthetic scenes of this packed set instead of the photos")
    a = ap.parse_args()
    if a.npz:
        m, r, n = evaluate_npz(a.npz, a.model, long_side=a.long_side, seed=a.seed)
        print(f"{os.path.basename(a.npz)}: model {m:.4f}   vertical ramp {r:.4f}  ({n} scenes)")
        return
    r = evaluate(a.model, a.pairs, a.ratio, a.seed, a.long_side, a.save)
    for k, v in r.items():
        extra = f"  ({v['pairs']} pairs)" if "pairs" in v else ""
        print(f"{k:11s} model {v['model']:.4f}   vertical ramp {v['ramp']:.4f}{extra}")


if __name__ == "__main__":
    main()
