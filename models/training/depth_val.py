"""Checkpoint selection on ../shared/depth-val: 28 real frames with measured depth (Middlebury
2005/2006, 7-Scenes), scored with that folder's own score.py measures (ordinal, local). Never trained
on; its terms forbid shipping weights made from it, so it only ranks checkpoints."""
import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "depth-val"))


def input_size(w, h, long_side, multiple=32):
    s = long_side / max(w, h)
    r = lambda v: max(1, round(v * s / multiple)) * multiple
    return r(w), r(h)


class DepthVal:
    def __init__(self, root=ROOT, long_side=320):
        spec = importlib.util.spec_from_file_location("depthval_score", os.path.join(root, "score.py"))
        self.score_mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.score_mod)
        setdir = os.path.join(root, "set")
        names = sorted(f[:-7] for f in os.listdir(setdir) if f.endswith(".gt.png"))
        self.items = []
        for n in names:
            gt = self.score_mod.grey(os.path.join(setdir, n + ".gt.png"))
            img = Image.open(os.path.join(setdir, n + ".png")).convert("RGB")
            iw, ih = input_size(img.width, img.height, long_side)
            x = torch.from_numpy(np.asarray(img.resize((iw, ih), Image.BILINEAR), np.float32) / 255).permute(2, 0, 1)[None]
            self.items.append((n, x, gt))

    @torch.no_grad()
    def score(self, predict, per_image=False):
        """predict: [1,3,H,W] in [0,1] → [1,1,H,W] disparity. Returns mean (ordinal, local)."""
        rows = []
        for n, x, gt in self.items:
            p = F.interpolate(predict(x), size=gt.shape, mode="bilinear", align_corners=False)[0, 0].numpy().astype(np.float64)
            o = self.score_mod.pairs_ordinal(p, gt, np.random.default_rng(0), False)
            l = self.score_mod.pairs_ordinal(p, gt, np.random.default_rng(1), True)
            rows.append((n, o, l))
        m = np.nanmean(np.array([r[1:] for r in rows]), 0)
        return (float(m[0]), float(m[1]), rows) if per_image else (float(m[0]), float(m[1]))


def main():
    """Score checkpoints (.pt) or exported models (.onnx) on depth-val at one or more input sizes."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--long-side", type=int, nargs="+", default=[320])
    a = ap.parse_args()
    torch.set_num_threads(2)
    for m in a.models:
        if m.endswith(".onnx"):
            import onnxruntime as ort
            s = ort.InferenceSession(m, providers=["CPUExecutionProvider"])
            predict = lambda im: torch.from_numpy(s.run(None, {s.get_inputs()[0].name: im.numpy()})[0][:, :1])
        else:
            sys.path.insert(0, HERE)
            from depth_net import DepthNet
            st = torch.load(m, map_location="cpu", weights_only=False)
            net = DepthNet()
            net.load_state_dict(st["model"] if isinstance(st["model"], dict) else st["model"].state_dict())
            net.eval()
            predict = lambda im: net(im)[0]
        for ls in a.long_side:
            o, l = DepthVal(long_side=ls).score(predict)
            print(f"{m}\tlong side {ls}\tordinal {o:.4f}\tlocal {l:.4f}", flush=True)


if __name__ == "__main__":
    main()
