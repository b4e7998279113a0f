#!/usr/bin/env python3
"""Procedural RGB-D scene generator for training the depth network (paper §3.1, data made here).

Each sample is a pinhole-camera render of a 3-D scene built from textured surfaces with a z-buffer:
a ground plane receding to a horizon (or a room: floor, ceiling, back and side walls), sky or far
backdrop, and objects that stand on the ground (they shrink and rise towards the horizon with
distance and cast contact shadows) or float in front of the camera, some close and cut by the frame.
Textures are real photos (scikit-image's sample photos, never the held-out test images) and
procedural noise, mip-mapped so that texture density grows with distance; atmospheric haze, shading
of rounded objects, camera noise and colour jitter add further real cues.  Targets: disparity
(1/Z, min-max normalised to [0,1], 1 = nearest) and a foreground mask of the objects.

  python models/training/gen_depth.py --out /work/data/depth --count 6000 --seed 0
"""
import argparse
import os

import numpy as np
from PIL import Image

try:
    from textures import Bank
except ImportError:  # imported as a package module
    from .textures import Bank


def mip(tex):
    levels = [tex]
    while min(levels[-1].shape[:2]) > 8:
        t = levels[-1]
        h, w = t.shape[0] // 2 * 2, t.shape[1] // 2 * 2
        t = t[:h, :w]
        levels.append(0.25 * (t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]))
    return levels


def sample(levels, u, v, footprint):
    """Nearest-texel lookup with mirrored tiling at the mip level matching the pixel footprint."""
    lvl = np.clip(np.log2(np.maximum(footprint, 1e-6)).astype(np.int32), 0, len(levels) - 1)
    out = np.empty(u.shape + (3,), np.float32)
    for l in np.unique(lvl):
        m = lvl == l
        t = levels[l]
        h, w = t.shape[:2]
        uu = (u[m] / (1 << l)).astype(np.int64)
        vv = (v[m] / (1 << l)).astype(np.int64)
        uu = np.abs((uu + w) % (2 * w) - w) % w  # mirror
        vv = np.abs((vv + h) % (2 * h) - h) % h
        out[m] = t[vv, uu]
    return out


class Scene:
    def __init__(self, rng, bank, h, w):
        self.rng, self.bank, self.h, self.w = rng, bank, h, w
        self.yy, self.xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.f = w * rng.uniform(0.7, 1.6)
        self.cx = w / 2 + rng.uniform(-0.1, 0.1) * w
        self.hy = h * rng.uniform(-0.35, 0.6)  # horizon row (may be above the frame)
        self.cam_h = 1.0
        self.Z = np.full((h, w), np.inf, np.float32)
        self.rgb = np.zeros((h, w, 3), np.float32)
        self.fg = np.zeros((h, w), np.float32)
        self.version = 1

    def put(self, Z, rgb, mask, fg=0.0):
        m = mask & (Z < self.Z) & (Z > 0)
        self.Z[m] = Z[m]
        self.rgb[m] = rgb[m]
        self.fg[m] = fg

    def plane_tex(self, levels, X, Y, Z, scale):
        r = self.rng
        fp = Z / self.f * scale
        return sample(levels, X * scale + r.uniform(0, 1000), Y * scale + r.uniform(0, 1000), fp)

    def ground(self, ceiling=None):
        r = self.rng
        below = self.yy > self.hy + 0.5
        Z = np.where(below, self.f * self.cam_h / np.maximum(self.yy - self.hy, 1e-3), np.inf)
        X = (self.xx - self.cx) * Z / self.f
        lev = mip(self.bank.pick(r))
        rgb = self.plane_tex(lev, X, np.where(below, Z, 0), np.where(below, Z, 1), r.uniform(40, 300))
        self.put(Z, rgb, below)
        if ceiling is not None:
            above = self.yy < self.hy - 0.5
            Zc = np.where(above, self.f * ceiling / np.maximum(self.hy - self.yy, 1e-3), np.inf)
            Xc = (self.xx - self.cx) * Zc / self.f
            lev = mip(self.bank.pick(r))
            rgb = self.plane_tex(lev, Xc, np.where(above, Zc, 0), np.where(above, Zc, 1), r.uniform(40, 200))
            self.put(Zc, rgb * r.uniform(0.6, 1.1), above)

    def wall(self, Zw):
        """Fronto-parallel wall at depth Zw (covers everything behind it)."""
        r = self.rng
        Z = np.full((self.h, self.w), Zw, np.float32)
        X = (self.xx - self.cx) * Zw / self.f
        Y = (self.yy - self.hy) * Zw / self.f
        lev = mip(self.bank.pick(r))
        self.put(Z, self.plane_tex(lev, X, Y, Z, r.uniform(30, 200)), np.ones_like(Z, bool))

    def side_wall(self, side, dist, ceiling):
        r = self.rng
        dx = (self.xx - self.cx) * side
        m = dx > 0.5
        Z = np.where(m, self.f * dist / np.maximum(dx, 1e-3), np.inf)
        Y = (self.yy - self.hy) * Z / self.f
        ok = m & (Y < self.cam_h) & (Y > -ceiling)
        lev = mip(self.bank.pick(r))
        rgb = self.plane_tex(lev, np.where(m, Z, 0), Y, np.where(m, Z, 1), r.uniform(30, 200))
        self.put(Z, rgb * r.uniform(0.5, 1.0), ok)

    def sky(self):
        r = self.rng
        top, bot = r.random(3) * [0.5, 0.7, 1.0], r.uniform(0.6, 1.0, 3)
        t = np.clip((self.yy - self.hy + self.h * 0.6) / (self.h * 0.8), 0, 1)[..., None]
        rgb = top * (1 - t) + bot * t
        if r.random() < 0.5:
            from textures import fractal_noise
            n = fractal_noise(r, self.h, self.w, 4)[..., None]
            rgb = rgb * (1 - 0.4 * n) + 0.4 * n
        self.put(np.full((self.h, self.w), 1e4, np.float32), rgb.astype(np.float32), np.ones((self.h, self.w), bool))

    def backdrop(self, Zb):
        """Far skyline (hills/buildings) standing on the horizon."""
        r = self.rng
        prof = np.zeros(self.w, np.float32)
        if r.random() < 0.5:
            from textures import fractal_noise
            prof = fractal_noise(r, 1, self.w, 4)[0] * r.uniform(0.3, 3)
        else:
            x = 0
            while x < self.w:
                bw = int(r.integers(self.w // 30 + 1, self.w // 6 + 2))
                prof[x:x + bw] = r.uniform(0.2, 3)
                x += bw
        top = self.hy + self.f * (self.cam_h - prof * self.cam_h * 4) / Zb
        m = (self.yy >= top[None, :]) & (self.yy <= self.hy + self.f * self.cam_h / Zb)
        X = (self.xx - self.cx) * Zb / self.f
        Y = (self.yy - self.hy) * Zb / self.f
        lev = mip(self.bank.pick(r))
        Z = np.full((self.h, self.w), Zb, np.float32)
        self.put(Z, self.plane_tex(lev, X, Y, Z, r.uniform(2, 20)), m)

    def shape_mask(self, u, v):
        """u, v in [-1,1] object coordinates -> mask, bulge in [0,1]."""
        r = self.rng
        k = r.integers(0, 6)
        rad = np.sqrt(u * u + v * v)
        if k == 0:  # ellipse
            m = rad <= 1
        elif k == 1:  # box
            m = (np.abs(u) <= 1) & (np.abs(v) <= 1)
        elif k == 2:  # superellipse
            p = r.uniform(3, 8)
            m = np.abs(u) ** p + np.abs(v) ** p <= 1
        elif k == 3:  # blob
            th = np.arctan2(v, u)
            R = 0.75 + sum(r.uniform(0, 0.15) * np.sin(n * th + r.uniform(0, 6.3)) for n in range(2, 7))
            m = rad <= R
        elif k == 4:  # plant / tree-like: leaves fanning out from a base
            m = np.zeros_like(u, bool)
            for _ in range(int(r.integers(4, 14))):
                a = r.uniform(-2.6, -0.5)
                L = r.uniform(0.6, 1.9)
                wd = r.uniform(0.05, 0.2)
                bu, bv = u - 0.0, v - 1.0  # base at the bottom centre
                along = bu * np.cos(a) + bv * np.sin(a)
                across = -bu * np.sin(a) + bv * np.cos(a)
                m |= (along > 0) & (along < L) & (np.abs(across) < wd * (1 - along / L) + 0.01)
        else:  # person/bottle-like: head + body
            m = ((u / 0.55) ** 2 + ((v + 0.1) / 0.9) ** 2 <= 1) | (u ** 2 + ((v + 0.8) / 0.8) ** 2 * 4 <= 0.12)
            m |= (np.abs(u) < 0.7) & (v > 0.2)
        bulge = np.sqrt(np.clip(1 - np.minimum(rad, 1) ** 2, 0, 1))
        return m & (np.abs(u) <= 1.5) & (v >= -1.5) & (v <= 1.0), bulge

    def obj(self, Z0, X0, width, height, Yb, grounded):
        """Object at depth Z0; bottom at height Yb (world, camera-relative: +down)."""
        r = self.rng
        f = self.f
        xc = self.cx + f * X0 / Z0
        yb = self.hy + f * Yb / Z0
        pw, ph = f * width / Z0 / 2, f * height / Z0 / 2
        if pw < 1 or ph < 1:
            return
        u = (self.xx - xc) / pw
        v = (self.yy - (yb - ph)) / ph
        m, bulge = self.shape_mask(u, v)
        if not m.any():
            return
        depth_ext = min(width, height) * r.uniform(0, 0.6)
        Z = Z0 - depth_ext * bulge
        lev = mip(self.bank.pick(r))
        if self.version >= 3 and r.random() < 0.4:  # plain-coloured object (paint, leaves, skin)
            from textures import fractal_noise
            n = fractal_noise(r, 64, 64, 3)[..., None] * r.uniform(0, 0.25)
            lev = mip(np.clip(r.random(3)[None, None] * (1 - n) + n * r.random(3), 0, 1).astype(np.float32))
        s = r.uniform(100, 600) / max(width, height)
        tex = sample(lev, (u + 2) * pw * Z0 / f * s + r.uniform(0, 500), (v + 2) * ph * Z0 / f * s + r.uniform(0, 500),
                     np.full_like(u, Z0 / f * s))
        # simple Lambertian shading of the bulge
        L = r.normal(size=3)
        L[2] = abs(L[2]) + 0.5
        L /= np.linalg.norm(L)
        n = np.stack([u * (bulge > 0), v * (bulge > 0), bulge + 0.3], -1)
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        shade = np.clip((n * L).sum(-1), 0, 1)
        amt = r.uniform(0, 0.7)
        tex = tex * ((1 - amt) + amt * shade)[..., None]
        if grounded and r.random() < 0.7:  # contact shadow on what lies behind the base
            sh = ((self.xx - xc) / (pw * 1.2)) ** 2 + ((self.yy - yb) / max(1.0, ph * 0.12)) ** 2 < 1
            sh &= self.Z > Z0
            self.rgb[sh] *= r.uniform(0.4, 0.8)
        self.put(Z, tex, m, fg=1.0)

    def objects(self, n, zmin, zmax, floating_p):
        r = self.rng
        for _ in range(n):
            Z0 = float(np.exp(r.uniform(np.log(zmin), np.log(zmax))))
            width = r.uniform(0.2, 2.5)
            height = width * np.exp(r.uniform(-0.7, 1.0))
            half_w = (self.w / 2) * Z0 / self.f
            X0 = r.uniform(-1.3, 1.3) * half_w
            if r.random() < floating_p:
                Yb = r.uniform(-1.0, 1.6) * (self.h / 2) * Z0 / self.f + (self.h / 2 - self.hy) * Z0 / self.f
                self.obj(Z0, X0, width * r.uniform(0.3, 1.5), height, Yb, False)
            else:
                self.obj(Z0, X0, width, height, self.cam_h, True)

    def finish(self):
        r = self.rng
        Z = self.Z
        far = ~np.isfinite(Z) | (Z >= 1e3)
        if r.random() < 0.6:  # haze
            zh = np.exp(r.uniform(np.log(5), np.log(200)))
            a = (1 - np.exp(-np.where(far, 1e4, Z) / zh))[..., None] * r.uniform(0.2, 0.9)
            haze = r.uniform(0.5, 1.0, 3) * r.uniform(0.7, 1.0)
            self.rgb = self.rgb * (1 - a) + haze * a
        disp = np.where(far, 0.0, 1.0 / np.where(far, 1.0, Z))
        return self.rgb, disp.astype(np.float32), self.fg


def subject(s, rng, zmax):
    """Photographic composition (generator version 2): one main subject near the centre, nearer
    than the rest, standing on the ground or held up, filling a good part of the frame."""
    Z0 = float(rng.uniform(0.25, 0.6) * zmax)
    frac = rng.uniform(0.25, 0.8)  # share of the frame height it covers
    height = frac * s.h * Z0 / s.f
    width = height * np.exp(rng.uniform(-0.6, 0.5))
    X0 = rng.normal(0, 0.25) * (s.w / 2) * Z0 / s.f
    if rng.random() < 0.75:
        s.obj(Z0, X0, width, height, s.cam_h, True)
    else:
        Yb = (s.h / 2 - s.hy + rng.uniform(0, 0.5) * s.h) * Z0 / s.f
        s.obj(Z0, X0, width, height, Yb, False)


def make_scene(rng, bank, h, w, version=1):
    s = Scene(rng, bank, h, w)
    s.version = version
    kind = rng.random()
    if kind < 0.4:  # outdoor
        s.sky()
        if rng.random() < 0.6:
            s.backdrop(float(rng.uniform(30, 300)))
        s.ground()
        s.objects(int(rng.integers(0, 9)), 1.5, 60, 0.15)
        if version >= 2 and rng.random() < 0.6:
            subject(s, rng, 20)
    elif kind < 0.75:  # room
        ceil = rng.uniform(1.0, 3.0)
        s.wall(float(rng.uniform(3, 25)))
        s.ground(ceiling=ceil if rng.random() < 0.6 else None)
        for side in (-1, 1):
            if rng.random() < 0.5:
                s.side_wall(side, rng.uniform(1, 4), ceil)
        s.objects(int(rng.integers(0, 7)), 1.0, 15, 0.2)
        if version >= 2 and rng.random() < 0.7:
            subject(s, rng, 8)
    else:  # close-up: objects in front of a wall/backdrop, camera looking slightly down
        s.hy = h * rng.uniform(-0.6, 0.2)
        s.wall(float(rng.uniform(4, 40)))
        if rng.random() < 0.7:
            s.ground()
        s.objects(int(rng.integers(1, 5)), 0.8, 6, 0.5)
        if version >= 2 and rng.random() < 0.8:
            subject(s, rng, 4)
    rgb, disp, fg = s.finish()
    return rgb, disp, fg


def downsample2(a):
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def render(rng, bank, h, w, version=1):
    """Supersampled x2 (antialiased edges), then camera effects."""
    rgb, disp, fg = make_scene(rng, bank, 2 * h, 2 * w, version)
    rgb, disp, fg = downsample2(rgb), downsample2(disp), downsample2(fg)
    g = rng.uniform(0.8, 1.25)
    rgb = np.clip(rgb, 0, 1) ** g * rng.uniform(0.7, 1.2) * rng.uniform(0.85, 1.15, 3)
    rgb = rgb + rng.normal(0, rng.uniform(0, 0.03), rgb.shape)
    rgb = np.clip(rgb, 0, 1)
    lo, hi = disp.min(), disp.max()
    disp = (disp - lo) / max(hi - lo, 1e-9)
    return rgb.astype(np.float32), disp.astype(np.float32), fg.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=6000)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preview", type=int, default=0, help="also write this many PNG previews")
    ap.add_argument("--version", type=int, default=1, choices=[1, 2, 3],
                    help="2 adds a photographic main subject (centred, nearest) to most scenes; "
                         "3 also makes 40 %% of the objects plain-coloured (smooth near surfaces)")
    a = ap.parse_args()
    from tqdm import tqdm
    rng = np.random.default_rng(a.seed)
    bank = Bank(rng)
    os.makedirs(a.out, exist_ok=True)
    n, H, W = a.count, a.height, a.width
    rgb = np.zeros((n, H, W, 3), np.uint8)
    disp = np.zeros((n, H, W), np.uint16)
    fg = np.zeros((n, H, W), np.uint8)
    for i in tqdm(range(n), desc="scenes"):
        c, d, m = render(rng, bank, H, W, a.version)
        rgb[i] = (c * 255 + 0.5).astype(np.uint8)
        disp[i] = (d * 65535 + 0.5).astype(np.uint16)
        fg[i] = (m * 255 + 0.5).astype(np.uint8)
        if i < a.preview:
            Image.fromarray(np.concatenate([rgb[i], np.repeat((disp[i] >> 8).astype(np.uint8)[..., None], 3, 2),
                                            np.repeat(fg[i][..., None], 3, 2)], 1)).save(os.path.join(a.out, f"preview_{i:03d}.png"))
    np.savez(os.path.join(a.out, f"depth_{a.seed}.npz" if a.version == 1 else f"depth_v{a.version}_{a.seed}.npz"), rgb=rgb, disp=disp, fg=fg)


if __name__ == "__main__":
    main()
