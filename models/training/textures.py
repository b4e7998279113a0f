"""Texture bank for the synthetic generators: real photos shipped with scikit-image plus procedural
noise.  The held-out test images (motorcycle*, and opencv-doc's aloe/vtest/tree) are never loaded."""
import os

import numpy as np
from PIL import Image

PHOTOS = ["astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
          "grass.png", "gravel.png", "hubble_deep_field.jpg", "rocket.jpg", "retina.jpg", "moon.png",
          "page.png", "text.png", "ihc.png", "cell.png", "color.png", "chessboard_RGB.png"]


def _data_dir():
    import skimage
    return os.path.join(os.path.dirname(skimage.__file__), "data")


def load_photos(max_side=512):
    out = []
    for name in PHOTOS:
        assert "motorcycle" not in name
        p = os.path.join(_data_dir(), name)
        if not os.path.exists(p):
            continue
        im = Image.open(p).convert("RGB")
        s = max_side / max(im.size)
        if s < 1:
            im = im.resize((int(im.size[0] * s), int(im.size[1] * s)), Image.LANCZOS)
        out.append(np.asarray(im, np.float32) / 255.0)
    return out


def fractal_noise(rng, h, w, octaves=5, persistence=0.55):
    acc = np.zeros((h, w), np.float32)
    amp, tot = 1.0, 0.0
    for o in range(octaves):
        gh, gw = max(2, h >> (octaves - o)), max(2, w >> (octaves - o))
        g = rng.standard_normal((gh, gw)).astype(np.float32)
        up = np.asarray(Image.fromarray(g).resize((w, h), Image.BICUBIC))
        acc += amp * up
        tot += amp
        amp *= persistence
    acc /= tot
    return (acc - acc.min()) / max(1e-6, acc.max() - acc.min())


def procedural(rng, size=256):
    kind = rng.integers(0, 4)
    n = fractal_noise(rng, size, size, octaves=int(rng.integers(3, 7)))
    c0, c1 = rng.random(3), rng.random(3)
    if kind == 1:  # stripes warped by noise
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        f = rng.uniform(0.05, 0.4)
        t = 0.5 + 0.5 * np.sin(f * (xx * np.cos(rng.uniform(0, 3.14)) + yy * np.sin(rng.uniform(0, 3.14))) + 6 * n)
        n = 0.6 * t + 0.4 * n
    elif kind == 2:  # checker / tiles
        yy, xx = np.mgrid[0:size, 0:size]
        p = int(rng.integers(8, 48))
        t = ((xx // p + yy // p) % 2).astype(np.float32)
        n = 0.7 * t + 0.3 * n
    return (c0[None, None] * (1 - n[..., None]) + c1[None, None] * n[..., None]).astype(np.float32)


def jitter(rng, tex):
    t = tex
    if rng.random() < 0.5:
        t = t[:, :, rng.permutation(3)]
    if rng.random() < 0.3:  # tint a grey-ish photo
        t = t.mean(2, keepdims=True) * rng.uniform(0.3, 1.0, 3)[None, None]
    g = rng.uniform(0.7, 1.4)
    t = np.clip(t, 0, 1) ** g * rng.uniform(0.6, 1.2) + rng.uniform(-0.1, 0.1)
    if rng.random() < 0.5:
        t = t[:, ::-1]
    return np.clip(t, 0, 1).astype(np.float32)


class Bank:
    def __init__(self, rng, n_procedural=24):
        self.photos = load_photos()
        self.proc = [procedural(rng) for _ in range(n_procedural)]

    def pick(self, rng):
        src = self.photos if rng.random() < 0.7 else self.proc
        return jitter(rng, src[int(rng.integers(0, len(src)))])
