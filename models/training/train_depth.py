#!/usr/bin/env python3
"""Train the depth network (paper §3.1, loss Eq. 1 plus a multi-scale gradient term) on scenes from
gen_depth.py.  Seeded and resumable: the checkpoint lives in --ckpt (default /work/ckpt/depth) and a
rerun of the same command continues from it.  Loss log: models/training/logs/depth_<tag>.csv.

  nice -n 10 python models/training/train_depth.py --data /work/data/depth/depth_0.npz --steps 5000 --seed 0
"""
import argparse
import copy
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from common import CsvLog, add_run_args, checkpoint, cosine_lr, restore, start_run
from depth_net import DepthNet

HERE = os.path.dirname(os.path.abspath(__file__))


def grad_loss(p, t, scales=3):
    loss = 0.0
    for s in range(scales):
        if s:
            p, t = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2)
        dx = (p[..., :, 1:] - p[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])
        dy = (p[..., 1:, :] - p[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])
        loss = loss + dx.abs().mean() + dy.abs().mean()
    return loss / scales


def align(p, t):
    """Least-squares scale and shift of p onto t per sample (the Rust side min-max normalises the
    output anyway, so only relative depth matters)."""
    pf, tf = p.flatten(1), t.flatten(1)
    pm, tm = pf.mean(1, keepdim=True), tf.mean(1, keepdim=True)
    s = ((pf - pm) * (tf - tm)).mean(1, keepdim=True) / ((pf - pm) ** 2).mean(1, keepdim=True).clamp_min(1e-6)
    # The scale is kept positive: a free-signed least-squares scale lets a prediction that is upside
    # down in depth fit as well as the right one, and the student then learns either sign per image
    # (ablations in README.md: teacher-only runs came out inverted, ordinal 0.22).
    return ((pf - pm) * s.abs() + tm).view_as(p)


class Mix:
    """Several training sets drawn from by weight, element by element (`PATH` or `PATH:WEIGHT`); each
    keeps its own frame size, since crops are resized to the training size anyway."""

    def __init__(self, specs, rng, **kw):
        self.sets, w = [], []
        for spec in specs:
            path, sep, weight = spec.rpartition(":")
            if not sep or not weight.replace(".", "", 1).isdigit():
                path, weight = spec, ""
            if path == "online":  # fresh crops labelled by the teachers as training runs (online_teacher.py)
                from online_teacher import OnlineTeacher
                self.sets.append(OnlineTeacher(rng, kw["size"], photo_aug=kw.get("photo_aug", 0.0)))
            else:
                self.sets.append(Batches(path, rng, **kw))
            w.append(float(weight) if weight else float(len(self.sets[-1])))
        self.w = np.array(w) / sum(w)
        self.rng = rng
        print("training sets:", ", ".join(f"{s}: {len(b)} frames, weight {x:.2f}" for s, b, x in zip(specs, self.sets, self.w)))

    def get(self, n):
        which = self.rng.choice(len(self.sets), size=n, p=self.w)
        parts = [self.sets[k].get(self.rng.integers(0, len(self.sets[k]), 1)) for k in which]
        return tuple(torch.cat(t) for t in zip(*parts))


def rank_loss(p, t, rng, pairs=2048, thresh=0.03):
    """Logistic ordinal loss on random pixel pairs whose target disparities differ."""
    n = p.shape[0]
    pf, tf = p.flatten(1), t.flatten(1)
    a = torch.from_numpy(rng.integers(0, pf.shape[1], (n, pairs))).to(pf.device)
    b = torch.from_numpy(rng.integers(0, pf.shape[1], (n, pairs))).to(pf.device)
    dt = tf.gather(1, a) - tf.gather(1, b)
    dp = pf.gather(1, a) - pf.gather(1, b)
    keep = (dt.abs() > thresh).float()
    return (F.softplus(-torch.sign(dt) * dp * 10) * keep).sum() / keep.sum().clamp_min(1)


def photometric(x, rng, p, depth=None, depth_light=0.0):
    """Appearance randomisation of one batch (each image with probability p): gamma, contrast,
    white balance, saturation down to grey, channel order, a smooth uneven-light gain field,
    Gaussian blur and sensor noise; with depth_light, also a brightness ramp along the true
    (normalised) depth. The depth target is untouched, so the network cannot lean on the renderer's
    colours, lighting and sharpness."""
    out = []
    for i, img in enumerate(x):
        if depth_light and rng.random() < depth_light:
            # light that grows or falls with depth at random: renders lit by lamps near the camera
            # are darker far away, a cue real photographs do not share
            t = depth[i] - depth[i].mean()
            img = img * torch.exp(rng.uniform(-1.2, 1.2) * t)
        if rng.random() < p:
            img = img.clamp(0, 1) ** rng.uniform(0.7, 1.4)
            mean = img.mean()
            img = (img - mean) * rng.uniform(0.6, 1.4) + mean * rng.uniform(0.7, 1.3)
            img = img * torch.tensor(rng.uniform(0.85, 1.15, 3), dtype=img.dtype)[:, None, None]
            grey = img.mean(0, keepdim=True)
            sat = 0.0 if rng.random() < 0.15 else rng.uniform(0.3, 1.5)
            img = grey + (img - grey) * sat
            if rng.random() < 0.3:
                img = img[torch.from_numpy(rng.permutation(3))]
            if rng.random() < 0.5:  # uneven light: a smooth random gain field, so brightness says nothing of depth
                g = torch.from_numpy(rng.normal(0.0, 0.35, (1, 1, 3, 4))).to(img.dtype).exp()
                img = img * F.interpolate(g, size=img.shape[1:], mode="bicubic", align_corners=True)[0].clamp(0.3, 3)
            if rng.random() < 0.3:
                sigma = rng.uniform(0.3, 1.2)
                k = torch.exp(-0.5 * (torch.arange(-3, 4, dtype=img.dtype) / sigma) ** 2)
                k = (k / k.sum()).view(1, 1, 1, 7).repeat(3, 1, 1, 1)
                img = F.conv2d(F.pad(img[None], (3, 3, 0, 0), mode="reflect"), k, groups=3)
                img = F.conv2d(F.pad(img, (0, 0, 3, 3), mode="reflect"), k.transpose(2, 3), groups=3)[0]
            if rng.random() < 0.5:
                img = img + torch.randn_like(img) * rng.uniform(0.0, 0.04)
            img = img.clamp(0, 1)
        out.append(img)
    return torch.stack(out)


class Batches:
    """Random crops (60-100 % of the frame, aspect kept) resized to the training size, horizontal
    flips, optional appearance randomisation; the disparity target is min-max renormalised per crop
    as in the paper."""

    def __init__(self, paths, rng, size=None, crop_min=0.6, photo_aug=0.0, depth_light=0.0):
        # frame size as stored; crops are resized to `size`
        ds = [np.load(p) for p in ([paths] if isinstance(paths, str) else paths)]
        self.rgb, self.disp, self.fg = (np.concatenate([d[k] for d in ds]) for k in ("rgb", "disp", "fg"))
        self.rng = rng
        self.h, self.w = self.rgb.shape[1:3]
        self.out = size or (self.h, self.w)
        self.crop_min = crop_min
        self.photo_aug = photo_aug
        self.depth_light = depth_light

    def __len__(self):
        return len(self.rgb)

    def get(self, idx, augment=True):
        x = torch.from_numpy(self.rgb[idx]).permute(0, 3, 1, 2).float() / 255
        d = torch.from_numpy(self.disp[idx].astype(np.float32) / 65535)[:, None]
        m = torch.from_numpy(self.fg[idx].astype(np.float32) / 255)[:, None]
        if augment:
            xs, ds, ms = [], [], []
            for i in range(len(idx)):
                s = self.rng.uniform(self.crop_min, 1.0)
                ch, cw = int(self.h * s), int(self.w * s)
                y0, x0 = self.rng.integers(0, self.h - ch + 1), self.rng.integers(0, self.w - cw + 1)
                sl = (slice(None), slice(y0, y0 + ch), slice(x0, x0 + cw))
                parts = [t[i][sl][None] for t in (x, d, m)]
                parts = [F.interpolate(t, size=self.out, mode="bilinear", align_corners=False) for t in parts]
                if self.rng.random() < 0.5:
                    parts = [t.flip(-1) for t in parts]
                xs.append(parts[0]); ds.append(parts[1]); ms.append(parts[2])
            x, d, m = torch.cat(xs), torch.cat(ds), torch.cat(ms)
        lo = d.amin(dim=(1, 2, 3), keepdim=True)
        hi = d.amax(dim=(1, 2, 3), keepdim=True)
        d = (d - lo) / (hi - lo).clamp_min(1e-6)
        if augment and (self.photo_aug or self.depth_light):
            x = photometric(x, self.rng, self.photo_aug, d, self.depth_light)
        return x, d, m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["/work/data/depth/depth_0.npz"],
                    help="training sets, PATH or PATH:WEIGHT (share of each batch; default: by size); the path "
                         "`online` labels fresh crops with the teachers as it trains (online_teacher.py)")
    ap.add_argument("--val", default=None, help="held-out synthetic set (other seed)")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, nargs=2, default=[96, 128], metavar=("H", "W"), help="training crop size")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--gamma", type=float, default=0.5, help="segmentation weight (Eq. 1)")
    ap.add_argument("--grad-weight", type=float, default=0.5)
    ap.add_argument("--loss", choices=["l1", "ssi"], default="l1",
                    help="l1: Eq. 1 on the normalised disparity; ssi: L1 after least-squares scale/shift alignment")
    ap.add_argument("--seg-loss", choices=["l1", "bce"], default="l1",
                    help="segmentation term: L1 as in Eq. 1, or binary cross-entropy (does not stall at the "
                         "all-background median the way L1 on a sigmoid does)")
    ap.add_argument("--rank-weight", type=float, default=0.0, help="weight of the pairwise ordinal loss")
    ap.add_argument("--crop-min", type=float, default=0.6, help="smallest crop (share of the frame side)")
    ap.add_argument("--photo-aug", type=float, default=0.0,
                    help="share of training crops given random gamma/contrast/colour/blur/noise")
    ap.add_argument("--depth-light", type=float, default=0.0,
                    help="share of training crops whose brightness is ramped along the true depth (either way)")
    ap.add_argument("--keep-every", type=int, default=0,
                    help="also keep the weights every N steps as <tag>_s<step>.pt (for choosing a checkpoint)")
    ap.add_argument("--select-every", type=int, default=0,
                    help="every N steps score the weights on ../shared/depth-val (real photos with measured "
                         "depth; never trained on) and keep the best as <tag>_best.pt")
    ap.add_argument("--select-long-side", type=int, default=320, help="input long side for that scoring")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="keep an exponential moving average of the weights with this decay (e.g. 0.998); "
                         "depth-val scoring and <tag>_best.pt then use it")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where the network trains (the crops are made on the CPU)")
    add_run_args(ap, "/work/ckpt/depth")
    a = ap.parse_args()

    ck_path, rng = start_run(a)
    dev = torch.device(a.device)
    net = DepthNet().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    step, wall = restore(ck_path, {"model": net}, opt, rng, device=dev)
    if step == 0 and a.init:
        net.load_state_dict(torch.load(a.init, map_location=dev, weights_only=False)["model"])
        print(f"initialised from {a.init}")
    # an exponential moving average of the weights: what is scored, selected and exported when --ema
    ema = copy.deepcopy(net) if a.ema else None
    modules = {"model": net, **({"ema": ema} if ema else {})}
    if ema is not None and step:
        saved = torch.load(ck_path, map_location=dev, weights_only=False)
        if "ema" in saved:  # else it starts from the resumed weights
            ema.load_state_dict(saved["ema"])
    data = Mix(a.data, rng, size=tuple(a.size), crop_min=a.crop_min, photo_aug=a.photo_aug, depth_light=a.depth_light)
    selector = None
    if a.select_every:
        from depth_val import DepthVal
        selector = DepthVal(long_side=a.select_long_side)
        slog = CsvLog(os.path.join(HERE, "logs", f"depth_{a.tag}_select.csv"), ["step", "ordinal", "local", "best"],
                      resume_step=step)
    val = Batches(a.val, np.random.default_rng(1)) if a.val else None
    log = CsvLog(os.path.join(HERE, "logs", f"depth_{a.tag}.csv"),
                 ["step", "loss", "depth_l1", "seg_l1", "grad", "val_depth_l1", "lr", "wall_s"], resume_step=step)
    bar = tqdm(total=a.steps, initial=step, desc="depth", dynamic_ncols=True)
    net.train()
    t_last = time.time()
    end = min(a.steps, a.stop_at or a.steps)
    while step < end:
        lr = cosine_lr(step, a.steps, a.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        x, d, m = (t.to(dev, non_blocking=True) for t in data.get(a.batch))
        pd, ps = net(x)
        pa = align(pd, d) if a.loss == "ssi" else pd
        ld = (pa - d).abs().mean()
        ls = (ps - m).abs().mean()
        lseg = F.binary_cross_entropy(ps.clamp(1e-5, 1 - 1e-5), m) if a.seg_loss == "bce" else ls
        lg = grad_loss(pa, d)
        loss = ld + a.gamma * lseg + a.grad_weight * lg
        if a.rank_weight:
            loss = loss + a.rank_weight * rank_loss(pd, d, rng)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ema is not None:
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.lerp_(p, 1 - a.ema)
                for be, b in zip(ema.buffers(), net.buffers()):
                    be.copy_(b)
        step += 1
        now = time.time(); wall += now - t_last; t_last = now
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", d=f"{ld.item():.4f}")
        vl = ""
        if step % a.ckpt_every == 0 or step == end:
            if val is not None:
                net.eval()
                with torch.no_grad():
                    vx, vd, _ = val.get(np.arange(min(64, len(val))), augment=False)
                    vl = float((net(vx.to(dev))[0] - vd.to(dev)).abs().mean())
                net.train()
            checkpoint(ck_path, modules, opt, rng, step, wall, vars(a))
        if selector is not None and step % a.select_every == 0:
            scored = ema or net
            scored.eval()
            o, l = selector.score(lambda im: scored(im.to(dev))[0].cpu())
            scored.train()
            best_path = ck_path[:-3] + "_best.pt"
            prev = torch.load(best_path, weights_only=False)["score"] if os.path.exists(best_path) else -1
            better = o + l > prev
            if better:
                torch.save({"model": {k: v.cpu() for k, v in scored.state_dict().items()}, "step": step, "wall": wall, "args": vars(a), "score": o + l, "ordinal": o, "local": l}, best_path)
            slog.write(step=step, ordinal=f"{o:.4f}", local=f"{l:.4f}", best=int(better))
            tqdm.write(f"step {step}: depth-val ordinal {o:.4f} local {l:.4f}{' (best)' if better else ''}")
        if a.keep_every and step % a.keep_every == 0:
            torch.save({"model": {k: v.cpu() for k, v in net.state_dict().items()}, "step": step}, ck_path[:-3] + f"_s{step}.pt")
        log.write(step=step, loss=f"{loss.item():.5f}", depth_l1=f"{ld.item():.5f}", seg_l1=f"{ls.item():.5f}",
                  grad=f"{lg.item():.5f}", val_depth_l1=vl if vl == "" else f"{vl:.5f}", lr=f"{lr:.6f}", wall_s=f"{wall:.1f}")
    bar.close()


if __name__ == "__main__":
    main()
