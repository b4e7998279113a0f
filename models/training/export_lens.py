#!/usr/bin/env python3
"""Export a lens+upsample checkpoint to models/lens.onnx and models/upsample.onnx (opset 17, dynamic
H and W), with metadata, onnxruntime timings and manifest entries.

  python models/training/export_lens.py --ckpt /work/ckpt/lens/seed0.pt
"""
import argparse
import os

import numpy as np
import torch

from lens_net import MIN_SIDE, R_MAX, FusedLens, FusionNet, LensNet, LimitedLens, UpsampleNet
from onnx_util import set_meta, sha256, time_ort, update_manifest

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/work/ckpt/lens/seed0.pt")
    ap.add_argument("--outdir", default=MODELS)
    ap.add_argument("--command", default="")
    ap.add_argument("--samples", type=int, default=0)
    ap.add_argument("--scores", default=None, help="JSON file of held-out scores to record")
    ap.add_argument("--machine", default=None, help="what trained it (recorded in the manifest; default: the 2-core CPU)")
    ap.add_argument("--earlier-stages", nargs="*", default=[], metavar="CKPT",
                    help="checkpoints of the earlier stages this one was initialised from, first first (recorded in the manifest)")
    ap.add_argument("--fusion", default=None, metavar="CKPT",
                    help="a train_fusion.py checkpoint: lens.onnx gets the fusion head and a third input, physical")
    ap.add_argument("--max-radius", type=float, default=R_MAX,
                    help="the largest blur (working px) the lens model renders at its input size; above r_max "
                         "Eq. 2 gets the signed depth limited to ±1 (metadata deeplens.max_radius)")
    a = ap.parse_args()
    if a.max_radius < R_MAX:
        raise SystemExit(f"--max-radius must be at least r_max ({R_MAX})")
    torch.set_num_threads(2)
    st = torch.load(a.ckpt, map_location="cpu", weights_only=False)
    lens, ups = LensNet(st.get("args", {}).get("variant", "s15")).eval(), UpsampleNet().eval()
    lens.load_state_dict(st["lens"]); ups.load_state_dict(st["ups"])
    h, w = 144, 256
    img, sd = torch.rand(1, 3, h, w), torch.rand(1, 1, h, w) * 2 - 1
    guide = torch.rand(1, 3, 2 * h, 2 * w)
    lp, up = os.path.join(a.outdir, "lens.onnx"), os.path.join(a.outdir, "upsample.onnx")
    hw = {2: "h", 3: "w"}
    HW = {2: "H", 3: "W"}
    fu = None
    if a.fusion:
        fs = torch.load(a.fusion, map_location="cpu", weights_only=False)
        fusion = FusionNet(fs["args"].get("width", 32), lo=fs["args"].get("alpha_range", [0, 1])[0],
                           hi=fs["args"].get("alpha_range", [0, 1])[1]).eval()
        fusion.load_state_dict(fs["fusion"])
        fu = FusedLens(lens, fusion).eval()
    lens_export = fu or (LimitedLens(lens).eval() if a.max_radius > R_MAX else lens)
    phys = torch.rand(1, 3, h, w)
    lens_in = ((img, sd, phys), ["image", "signed_depth", "physical"]) if fu else ((img, sd), ["image", "signed_depth"])
    torch.onnx.export(lens_export, lens_in[0], lp, input_names=lens_in[1], output_names=["blur"],
                      dynamic_axes={**{n: hw for n in lens_in[1]}, "blur": hw}, opset_version=17, dynamo=False)
    with torch.no_grad():
        blur = lens_export(*lens_in[0])
    torch.onnx.export(ups, (guide, img, blur, sd), up,
                      input_names=["guide", "low_image", "low_blur", "low_signed_depth"], output_names=["output"],
                      dynamic_axes={"guide": HW, "low_image": hw, "low_blur": hw, "low_signed_depth": hw, "output": HW},
                      opset_version=17, dynamo=False)
    lens_meta = {"deeplens.kind": "lens", "deeplens.r_max": R_MAX, "deeplens.input_multiple": 8, "deeplens.min_side": MIN_SIDE}
    if a.max_radius > R_MAX:
        lens_meta["deeplens.max_radius"] = a.max_radius
    set_meta(lp, lens_meta)
    set_meta(up, {"deeplens.kind": "upsample", "deeplens.r_max": R_MAX, "deeplens.input_multiple": 1})
    import onnxruntime as ort
    s = ort.InferenceSession(lp, providers=["CPUExecutionProvider"])
    o = s.run(None, dict(zip(lens_in[1], (t.numpy() for t in lens_in[0]))))[0]
    print("lens max |onnx - torch|", float(np.abs(o - blur.numpy()).max()))
    ms_l = time_ort(lp, {n: np.random.rand(1, 1 if n == "signed_depth" else 3, 144, 256).astype(np.float32) for n in lens_in[1]})
    ms_u = time_ort(up, {"guide": np.random.rand(1, 3, 288, 512).astype(np.float32),
                         "low_image": np.random.rand(1, 3, 144, 256).astype(np.float32),
                         "low_blur": np.random.rand(1, 3, 144, 256).astype(np.float32),
                         "low_signed_depth": np.random.rand(1, 1, 144, 256).astype(np.float32)})
    print(f"onnxruntime CPU 2 threads: lens 256x144 {ms_l:.1f} ms, upsample to 512x288 {ms_u:.1f} ms")
    args = st.get("args", {})
    scores = None
    if a.scores and os.path.exists(a.scores):
        import json
        scores = json.load(open(a.scores))
    # A run made of stages (--init chains) is recorded stage by stage from each checkpoint's own args.
    stages = [torch.load(c, map_location="cpu", weights_only=False) for c in a.earlier_stages] + [st]
    stage_rows = [{"data": x["args"].get("data"), "steps": x["step"], "planned_schedule_steps": x["args"].get("steps"),
                   "batch": x["args"].get("batch"), "crop": x["args"].get("crop"), "full_res_share": x["args"].get("full_share"),
                   "lr": x["args"].get("lr"), "seed": x["args"].get("seed"), "init": x["args"].get("init"),
                   "variant": x["args"].get("variant"), "device": x["args"].get("device", "cpu"),
                   "wall_time_s": round(x["wall"], 1)} for x in stages]
    steps = sum(x["step"] for x in stages)
    train = {"stages": stage_rows, "steps": steps, "samples_seen": sum(x["step"] * (x["args"].get("batch") or 0) for x in stages),
             "dataset_size": a.samples, "wall_time_s": round(sum(x["wall"] for x in stages), 1),
             "loss": "normalised (Eq. 5, weights held constant in the gradient), on L and H (Eq. 6)" if args.get("loss") == "normalised" else args.get("loss"),
             "corrupt_share": args.get("corrupt"),
             "machine": a.machine or f"2-core shared CPU, torch {args.get('threads', 2)} thread(s)"}
    sd_doc = "(D - d_f) * alpha, alpha = r / r_max, r = max_blur in pixels at this resolution; blur radius = r_max*|signed_depth|"
    update_manifest(os.path.join(a.outdir, "manifest.json"), "lens", {
        "file": "lens.onnx", "sha256": sha256(lp), "bytes": os.path.getsize(lp), "kind": "lens", "opset": 17,
        "inputs": [{"name": "image", "shape": [1, 3, "h", "w"], "layout": "NCHW", "dtype": "float32", "range": "RGB [0,1] gamma-encoded"},
                   {"name": "signed_depth", "shape": [1, 1, "h", "w"], "layout": "NCHW", "dtype": "float32",
                    "range": sd_doc + (f"; in [-{a.max_radius / R_MAX:g},{a.max_radius / R_MAX:g}] (up to max_radius)" if a.max_radius > R_MAX else "; in [-1,1]")}]
        + ([{"name": "physical", "shape": [1, 3, "h", "w"], "layout": "NCHW", "dtype": "float32",
             "range": "the physical renderer's picture of the same frame and settings, RGB [0,1] gamma-encoded"}] if fu else []),
        "fusion": {"checkpoint": a.fusion, "steps": fs["step"], "wall_time_s": round(fs["wall"], 1), "args": fs["args"],
                   "parameters": int(sum(p.numel() for p in fu.fusion.parameters()))} if fu else None,
        "outputs": [{"name": "blur", "shape": [1, 3, "h", "w"], "layout": "NCHW", "dtype": "float32", "range": "RGB ~[0,1] (clamp), gamma-encoded"}],
        "metadata": {k: str(v) for k, v in lens_meta.items()},
        "parameters": int(sum(p.numel() for p in lens.parameters())), "seed": [r["seed"] for r in stage_rows], "command": a.command,
        "training": train, "ort_cpu_ms_median": {"256x144": round(ms_l, 2)}, "heldout": scores})
    update_manifest(os.path.join(a.outdir, "manifest.json"), "upsample", {
        "file": "upsample.onnx", "sha256": sha256(up), "bytes": os.path.getsize(up), "kind": "upsample", "opset": 17,
        "inputs": [{"name": "guide", "shape": [1, 3, "2h", "2w"], "layout": "NCHW", "dtype": "float32", "range": "all-in-focus RGB [0,1] at the output level"},
                   {"name": "low_image", "shape": [1, 3, "h", "w"], "layout": "NCHW", "dtype": "float32", "range": "all-in-focus RGB [0,1] at the low level"},
                   {"name": "low_blur", "shape": [1, 3, "h", "w"], "layout": "NCHW", "dtype": "float32", "range": "shallow-DoF RGB at the low level (lens output or previous step)"},
                   {"name": "low_signed_depth", "shape": [1, 1, "h", "w"], "layout": "NCHW", "dtype": "float32", "range": sd_doc + ", r at the LOW level (may exceed 1 at later steps)"}],
        "outputs": [{"name": "output", "shape": [1, 3, "2h", "2w"], "layout": "NCHW", "dtype": "float32", "range": "M_A*guide + M_L*bilinear_up(low_blur), M_L = 1 - M_A"}],
        "metadata": {"deeplens.kind": "upsample", "deeplens.r_max": str(R_MAX), "deeplens.input_multiple": "1"},
        "parameters": int(sum(p.numel() for p in ups.parameters())), "seed": [r["seed"] for r in stage_rows], "command": a.command,
        "training": train, "ort_cpu_ms_median": {"512x288": round(ms_u, 2)}, "heldout": scores})
    print("manifest updated")


if __name__ == "__main__":
    main()
