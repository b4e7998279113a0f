"""Reading the synth example's samples (16-bit PNGs need OpenCV: Pillow narrows 16-bit RGB to 8)."""
import json

import cv2
import numpy as np


def imread(path):
    a = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if a is None:
        raise FileNotFoundError(path)
    if a.ndim == 3:
        a = a[..., 2::-1]  # BGR(A) -> RGB
    return np.ascontiguousarray(a)


def full_scale(dtype):
    """The value that means 1.0 in an 8- or 16-bit image array."""
    return 255.0 if dtype == np.uint8 else 65535.0


def to_unit(a):
    """An 8- or 16-bit image array as float32 in [0, 1]."""
    return a.astype(np.float32) / full_scale(a.dtype)


def read_sample(stem):
    """Raw arrays of one sample: input u8 RGB, target u16 RGB, depth and corrupted depth u16, meta."""
    meta = json.load(open(stem + ".json"))
    return (imread(stem + "_input.png"), imread(stem + "_target.png"), imread(stem + "_depth.png"),
            imread(stem + "_depth_corrupt.png"), meta)
