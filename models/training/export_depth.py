#!/usr/bin/env python3
"""Export a depth checkpoint to models/depth.onnx (opset 17, dynamic H and W), write its metadata,
time it with onnxruntime (2 threads, 320×192), score it on the held-out real photos, and record all
of it in models/manifest.json.

  python models/training/export_depth.py --ckpt /work/ckpt/depth/seed0.pt
"""
import argparse
import json
import os

import numpy as np
import torch

from depth_net import DepthNet
from eval_depth import evaluate
from onnx_util import set_meta, sha256, time_ort, update_manifest

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)


class Export(torch.nn.Module):
    """The network as exported; with flip=True the graph averages the prediction on the image and
    on its mirror image (test-time augmentation inside the model)."""

    def __init__(self, net, flip=False):
        super().__init__()
        self.net = net
        self.flip = flip

    def forward(self, image):
        d, s = self.net(image)
        if self.flip:
            df, sf = self.net(image.flip(-1))
            d, s = 0.5 * (d + df.flip(-1)), 0.5 * (s + sf.flip(-1))
        return d, s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/work/ckpt/depth/seed0.pt")
    ap.add_argument("--out", default=os.path.join(MODELS, "depth.onnx"))
    ap.add_argument("--long-side", type=int, default=256)
    ap.add_argument("--command", default="", help="training command recorded in the manifest")
    ap.add_argument("--samples", type=int, default=0, help="training set size recorded in the manifest")
    ap.add_argument("--flip-average", action="store_true", help="average with the mirrored prediction in-graph")
    ap.add_argument("--notes", default="", help="free text recorded in the manifest")
    a = ap.parse_args()
    torch.set_num_threads(2)
    st = torch.load(a.ckpt, map_location="cpu", weights_only=False)
    net = DepthNet()
    net.load_state_dict(st["model"])
    net.eval()
    x = torch.rand(1, 3, 192, 320)
    torch.onnx.export(Export(net, a.flip_average).eval(), (x,), a.out, input_names=["image"], output_names=["depth", "segmentation"],
                      dynamic_axes={"image": {2: "H", 3: "W"}, "depth": {2: "H", 3: "W"}, "segmentation": {2: "H", 3: "W"}},
                      opset_version=17, do_constant_folding=True, dynamo=False)
    set_meta(a.out, {"deeplens.kind": "depth", "deeplens.input_multiple": 32,
                     "deeplens.input_long_side": a.long_side})
    # parity with torch
    import onnxruntime as ort
    s = ort.InferenceSession(a.out, providers=["CPUExecutionProvider"])
    o = s.run(["depth"], {"image": x.numpy()})[0]
    with torch.no_grad():
        r = Export(net, a.flip_average)(x)[0].numpy()
    print("max |onnx - torch|", float(np.abs(o - r).max()))
    ms = time_ort(a.out, {"image": np.random.rand(1, 3, 192, 320).astype(np.float32)})
    ms256 = time_ort(a.out, {"image": np.random.rand(1, 3, 160, 256).astype(np.float32)})
    print(f"onnxruntime CPU 2 threads: 320x192 median {ms:.1f} ms, 256x160 median {ms256:.1f} ms")
    scores = {}
    for ls in sorted({a.long_side, 192, 256, 320}):
        r = evaluate(a.out, long_side=ls)
        scores[f"long_side_{ls}"] = {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()} for k, v in r.items()}
        print(ls, json.dumps(scores[f"long_side_{ls}"]))
    # validation (choosing): ../shared/depth-val, the measures of its score.py, at the shipped input size
    from depth_val import DepthVal
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    vs = ort.InferenceSession(a.out, so, providers=["CPUExecutionProvider"])
    vo, vl = DepthVal(long_side=a.long_side).score(lambda im: torch.from_numpy(vs.run(["depth"], {"image": im.numpy()})[0]))
    print(f"depth-val (validation) at long side {a.long_side}: ordinal {vo:.4f} local {vl:.4f}")
    args = st.get("args", {})
    entry = {
        "file": os.path.basename(a.out),
        "sha256": sha256(a.out),
        "bytes": os.path.getsize(a.out),
        "kind": "depth",
        "opset": 17,
        "inputs": [{"name": "image", "shape": [1, 3, "H", "W"], "layout": "NCHW", "dtype": "float32",
                    "range": "RGB [0,1] gamma-encoded as decoded; H, W multiples of 32"}],
        "outputs": [{"name": "depth", "shape": [1, 1, "H", "W"], "layout": "NCHW", "dtype": "float32",
                     "range": "[0,1] normalised inverse depth (disparity), higher = nearer"},
                    {"name": "segmentation", "shape": [1, 1, "H", "W"], "layout": "NCHW", "dtype": "float32",
                     "range": "[0,1] foreground probability"}],
        "metadata": {"deeplens.kind": "depth", "deeplens.input_multiple": "32", "deeplens.input_long_side": str(a.long_side)},
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "flip_average": bool(a.flip_average),
        "seed": args.get("seed"),
        "command": a.command,
        "training": {"steps": st["step"], "batch": args.get("batch"), "samples_seen": st["step"] * (args.get("batch") or 0),
                     "dataset_size": a.samples, "wall_time_s": round(st["wall"], 1) if "wall" in st else None,
                     "machine": f"2-core shared CPU, torch {args.get('threads', 2)} thread(s)"},
        "ort_cpu_ms_median": {"320x192": round(ms, 2), "256x160": round(ms256, 2)},
        "validation_depth_val": {"ordinal": round(vo, 4), "local": round(vl, 4), "long_side": a.long_side,
                                 "note": "../shared/depth-val (28 real frames, measured depth; chose the checkpoint; never trained on)"},
        "heldout_ordinal_agreement": scores,
        "notes": a.notes,
        "heldout_note": "ordinal agreement of 50000 random pixel pairs (GT differing >3 %), vs a vertical ramp on the same pairs; "
                        "motorcycle (skimage) and aloe (opencv-doc); models/training/eval_depth.py",
    }
    update_manifest(os.path.join(os.path.dirname(os.path.abspath(a.out)), "manifest.json"), "depth", entry)
    print("manifest updated")


if __name__ == "__main__":
    main()
