"""Online distillation source for train_depth.py (issue 13): every training sample is a fresh crop of
a packaged photograph or clip frame, at a random scale and place, mirrored at random, with tuxpaint
cut-outs pasted in front half of the time, labelled by the teachers on exactly that picture.

The stored sets of gen_depth_real.py hold 40 fixed crops per photograph; a student trained on them
learns the ~100 scenes, not the teacher (README.md here: the aligned loss stalls and the student draws
a ramp). Labelling on the fly shows it the teacher's answer on an unbounded stream of new framings
and layerings of the same content. Sources, exclusions (demo clip, depth-val, opencv-doc's aloe,
vtest, tree) and teachers are those of gen_depth_real.py; nothing of the teachers is written out.

In train_depth.py: `--data online:0.6 SET.npz:0.4 ...` (the weight is the share of each batch).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import gen_depth_real as gdr


class OnlineTeacher:
    def __init__(self, rng, size, photo_aug=0.0, crop_min=0.2, layered=0.5, teachers=gdr.TEACHERS,
                 frame_every=6, threads=1):
        from train_depth import photometric  # one appearance randomisation for stored and online sets
        self._photometric = photometric
        self.rng, self.out, self.photo_aug = rng, tuple(size), photo_aug
        self.crop_min, self.layered = crop_min, layered
        self.teacher = gdr.Teachers(teachers, threads=threads)
        self.images, self.weights = [], []
        for tag, lic, path, kind in gdr.sources():
            if kind == "video":
                frames = gdr.video_frames(path, frame_every)
                self.images += frames
                # a clip is one scene seen many times: all its frames together weigh as 5 photographs
                self.weights += [5.0 / len(frames)] * len(frames)
            else:
                img = Image.open(path).convert("RGB")
                if max(img.size) > 1280:
                    img.thumbnail((1280, 1280), Image.LANCZOS)
                self.images.append(img)
                self.weights.append(1.0)
        self.weights = np.array(self.weights) / sum(self.weights)
        self.stamps = []
        for p in gdr.stamps():
            im = Image.open(p).convert("RGBA")
            if im.getchannel("A").getextrema()[0] < 128:
                im.thumbnail((512, 512), Image.LANCZOS)
                self.stamps.append(im)
        print(f"online teacher: {len(self.images)} pictures, {len(self.stamps)} cut-outs")

    def __len__(self):
        return len(self.images)

    def sample(self):
        img = self.images[self.rng.choice(len(self.images), p=self.weights)]
        rgb = gdr.random_crop(img, self.rng, self.crop_min)
        if self.rng.random() < 0.5:
            rgb = rgb[:, ::-1].copy()
        disp = self.teacher.disparity(rgb)
        fg = self.teacher.foreground(rgb)
        if self.stamps and self.rng.random() < self.layered:
            rgb, disp, fg_cut = gdr.composite(rgb, disp, self.stamps, self.rng)
            fg = np.maximum(fg, fg_cut)
        return rgb, disp, fg

    def get(self, idx, augment=True):
        xs, ds, ms = [], [], []
        for _ in range(len(idx)):
            rgb, disp, fg = self.sample()
            xs.append(torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None])
            ds.append(torch.from_numpy(disp.astype(np.float32))[None, None])
            ms.append(torch.from_numpy(fg.astype(np.float32))[None, None])
        x, d, m = (F.interpolate(torch.cat(t), size=self.out, mode="bilinear", align_corners=False) for t in (xs, ds, ms))
        lo = d.amin(dim=(1, 2, 3), keepdim=True)
        hi = d.amax(dim=(1, 2, 3), keepdim=True)
        d = (d - lo) / (hi - lo).clamp_min(1e-6)
        if augment and self.photo_aug:
            x = self._photometric(x, self.rng, self.photo_aug)
        return x, d, m
