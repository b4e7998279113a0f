#!/usr/bin/env python3
"""Train the learned renderer's fusion head (lens_net.FusionNet) on gen_fusion.py's pairs: the
lens network's and the physical renderer's pictures at the working size, against the truth.
Mean squared error (what PSNR counts); thin-lens renders on a share of the steps, the layered
scenes on the rest; random crops and flips. Seeded and resumable (`--resume`).

  python models/training/train_fusion.py --data /work/data/fusion --steps 3000 --tag fu1 --ckpt /work/ckpt/fusion
"""
import argparse
import csv
import json
import os
import time

import numpy as np
import torch
from PIL import Image

from lens_net import R_MAX, FusionNet

HERE = os.path.dirname(os.path.abspath(__file__))


def load(d):
    """Every scene of a gen_fusion.py folder as float32 [C,H,W] arrays; thin-lens scenes (name
    starting with 's') and layered ones apart."""
    thin, layered = [], []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".json"):
            continue
        st = f[:-5]
        p = json.load(open(os.path.join(d, f)))
        rgb = lambda s: np.asarray(Image.open(os.path.join(d, f"{st}_{s}.png")).convert("RGB"), np.float32).transpose(2, 0, 1) / 255
        dep = np.asarray(Image.open(os.path.join(d, f"{st}_depth.png")), np.float32)[None] / 65535
        # As the binary gives it: α = r / r_max, beyond ±1 where the working blur is above r_max
        # (a lens model with max_radius > r_max; the data's working blur never exceeds it).
        sd = (dep - p["focus"]) * (p["max_blur"] / R_MAX)
        s = np.concatenate([rgb("input"), sd, rgb("learned"), rgb("physical"), rgb("truth")], 0)
        (thin if st.startswith("s") else layered).append(s)
    return thin, layered


def batch(rng, sets, share, n, crop):
    out = []
    for _ in range(n):
        pool = sets[0] if rng.random() < share else sets[1]
        s = pool[rng.integers(len(pool))]
        h, w = s.shape[1:]
        c = min(crop, h, w) // 2 * 2
        y, x = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
        t = s[:, y:y + c, x:x + c]
        if rng.random() < 0.5:
            t = t[:, :, ::-1]
        if c < crop:  # a small layered scene: pad by reflection to the batch's crop
            t = np.pad(t, ((0, 0), (0, crop - c), (0, crop - c)), mode="reflect")
        out.append(np.ascontiguousarray(t))
    return torch.from_numpy(np.stack(out))


def split(b):
    return b[:, 0:3], b[:, 3:4], b[:, 4:7], b[:, 7:10], b[:, 10:13]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/data/fusion")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--thinlens-share", type=float, default=0.5)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--alpha-range", type=float, nargs=2, default=[0.0, 1.0], metavar=("LO", "HI"),
                    help="range of the weight on the physical picture (beyond [0, 1] extrapolates)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="fusion")
    ap.add_argument("--ckpt", default="/work/ckpt/fusion")
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--log-dir", default=os.path.join(HERE, "logs"))
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    thin, layered = load(a.data)
    print(f"{len(thin)} thin-lens + {len(layered)} layered scenes")
    net = FusionNet(a.width, lo=a.alpha_range[0], hi=a.alpha_range[1])
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + np.cos(np.pi * min(s, a.steps) / a.steps)))
    os.makedirs(a.ckpt, exist_ok=True)
    os.makedirs(a.log_dir, exist_ok=True)
    path = os.path.join(a.ckpt, a.tag + ".pt")
    step, wall = 0, 0.0
    if a.resume and os.path.exists(path):
        st = torch.load(path, weights_only=False)
        net.load_state_dict(st["fusion"]); opt.load_state_dict(st["opt"]); sched.load_state_dict(st["sched"])
        step, wall = st["step"], st["wall"]
    rng = np.random.default_rng(a.seed * 1000003 + step)
    log = open(os.path.join(a.log_dir, f"fusion_{a.tag}.csv"), "a")
    w = csv.writer(log)
    if step == 0:
        w.writerow(["step", "loss", "loss_learned", "loss_physical", "lr", "wall_s"])
    acc = []
    while step < a.steps:
        t0 = time.time()
        img, sd, blur, phys, truth = split(batch(rng, (thin, layered), a.thinlens_share, a.batch, a.crop))
        out = net(img, sd, blur, phys)
        loss = ((out - truth) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        step += 1
        wall += time.time() - t0
        acc.append([loss.item(), ((blur - truth) ** 2).mean().item(), ((phys - truth) ** 2).mean().item()])
        if step % 50 == 0:
            m = np.mean(acc, 0); acc = []
            w.writerow([step, f"{m[0]:.6g}", f"{m[1]:.6g}", f"{m[2]:.6g}", f"{sched.get_last_lr()[0]:.3g}", f"{wall:.1f}"]); log.flush()
            print(f"step {step} mse {m[0]:.3g} (learned {m[1]:.3g}, physical {m[2]:.3g}) {wall:.0f} s", flush=True)
        if step % a.ckpt_every == 0 or step == a.steps:
            torch.save({"fusion": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                        "wall": wall, "args": vars(a)}, path)
            torch.save({"fusion": net.state_dict(), "step": step, "wall": wall, "args": vars(a)},
                       os.path.join(a.ckpt, f"{a.tag}_{step}.pt"))


if __name__ == "__main__":
    main()
