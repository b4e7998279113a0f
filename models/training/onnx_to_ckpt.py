#!/usr/bin/env python3
"""Recover a lens + upsampler training checkpoint from the shipped ONNX files.

The GPU checkpoints of the shipped models do not survive between sessions; the ONNX graphs hold
every weight (initialisers named as the state dict, except the feature kernels, which the export
turned into `Tile` constants with an extra axis: matched in order by shape). The result is checked
by running both on random inputs.

  python models/training/onnx_to_ckpt.py --out /work/ckpt/lens/shipped.pt
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from lens_net import LensNet, UpsampleNet

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)


def load_into(net, path):
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    sd = net.state_dict()
    spare = [v for k, v in inits.items() if k not in sd]
    for k in sd:
        if k in inits:
            v = inits[k]
        else:
            want = tuple(sd[k].shape)
            i = next(i for i, v in enumerate(spare) if v.size == int(np.prod(want)) and v.squeeze().shape == np.empty(want).squeeze().shape)
            v = spare.pop(i).reshape(want)
        sd[k] = torch.from_numpy(np.array(v)).to(sd[k].dtype)
    net.load_state_dict(sd)
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variant", default="s15")
    a = ap.parse_args()
    lens = load_into(LensNet(a.variant).eval(), os.path.join(a.models, "lens.onnx"))
    ups = load_into(UpsampleNet().eval(), os.path.join(a.models, "upsample.onnx"))
    g = torch.Generator().manual_seed(0)
    h, w = 72, 128
    img, sd = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 1, h, w, generator=g) * 2 - 1
    guide = torch.rand(1, 3, 2 * h, 2 * w, generator=g)
    with torch.no_grad():
        lt = lens(img, sd)
        ut = ups(guide, img, lt, sd)
    so = ort.InferenceSession(os.path.join(a.models, "lens.onnx"), providers=["CPUExecutionProvider"])
    lo = so.run(None, {"image": img.numpy(), "signed_depth": sd.numpy()})[0]
    su = ort.InferenceSession(os.path.join(a.models, "upsample.onnx"), providers=["CPUExecutionProvider"])
    uo = su.run(None, {"guide": guide.numpy(), "low_image": img.numpy(), "low_blur": lt.numpy(), "low_signed_depth": sd.numpy()})[0]
    dl, du = float(np.abs(lo - lt.numpy()).max()), float(np.abs(uo - ut.numpy()).max())
    print(f"max |torch - onnx|: lens {dl:.2e}, upsample {du:.2e}")
    assert dl < 1e-3 and du < 1e-3, "recovered weights do not reproduce the ONNX models"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"lens": lens.state_dict(), "ups": ups.state_dict(), "args": {"variant": a.variant, "from_onnx": a.models}}, a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
