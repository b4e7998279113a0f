#!/usr/bin/env python3
"""Half-precision forms of the shipped models, for `--precision fp16` (issue 20): each
models/NAME.onnx becomes models/NAME.fp16.onnx with float16 weights and arithmetic inside and
float32 inputs and outputs (so the program feeds both forms alike), metadata kept; recorded in the
manifest as NAME_fp16 with the sha256 of the file it was made from.

  pip install onnxconverter-common
  python models/training/to_fp16.py [--models models] [--scores TEXT]
"""
import argparse
import os
import warnings

import onnx
from onnxconverter_common import float16

from onnx_util import sha256, update_manifest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.dirname(HERE))
    ap.add_argument("--scores", default=None, help="what the half-precision forms cost, measured (recorded in the manifest)")
    a = ap.parse_args()
    for name in ("depth", "lens", "upsample"):
        src = os.path.join(a.models, name + ".onnx")
        dst = os.path.join(a.models, name + ".fp16.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the converter warns of values it clamps into float16's range
            m16 = float16.convert_float_to_float16(onnx.load(src), keep_io_types=True)
        onnx.save(m16, dst)
        update_manifest(os.path.join(a.models, "manifest.json"), name + "_fp16", {
            "file": os.path.basename(dst), "sha256": sha256(dst), "bytes": os.path.getsize(dst),
            "made_from": {"file": os.path.basename(src), "sha256": sha256(src)},
            "command": "python models/training/to_fp16.py (onnxconverter-common float16, keep_io_types)",
            "inputs_outputs": "as " + os.path.basename(src) + " (float32)", "heldout": a.scores})
        print(f"{dst}: {os.path.getsize(dst)} bytes (from {os.path.getsize(src)})")


if __name__ == "__main__":
    main()
