"""Shared training utilities: seeding, resumable checkpoints, CSV loss logs."""
import csv
import os
import random
import time

import numpy as np
import torch


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save_ckpt(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_ckpt(path, device="cpu"):
    if os.path.exists(path):
        return torch.load(path, map_location=device, weights_only=False)
    return None


class CsvLog:
    """Loss log; on resume, rows past the checkpoint's step (lost work) are dropped first."""

    def __init__(self, path, fields, resume_step=0):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rows = []
        if resume_step and os.path.exists(path):
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields)
        self.w.writeheader()
        self.w.writerows(rows)
        self.t0 = time.time()

    def write(self, **row):
        self.w.writerow(row)
        self.f.flush()


def cosine_lr(step, total, base, warmup=100):
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * min(1.0, p))))


def restore(path, modules, opt, rng, device="cpu"):
    """Load a checkpoint written by `checkpoint` into modules/optimizer/RNGs; returns (step, wall_s)."""
    st = load_ckpt(path, device)
    if not st:
        return 0, 0.0
    for k, m in modules.items():
        m.load_state_dict(st[k])
    opt.load_state_dict(st["opt"])
    rng.bit_generator.state = st["rng"]
    torch.set_rng_state(st["torch_rng"].cpu())
    print(f"resumed from {path} at step {st['step']}")
    return st["step"], st["wall"]


def checkpoint(path, modules, opt, rng, step, wall, args):
    save_ckpt(path, opt=opt.state_dict(), step=step, wall=wall, rng=rng.bit_generator.state,
              torch_rng=torch.get_rng_state(), args=args, **{k: m.state_dict() for k, m in modules.items()})


def add_run_args(ap, ckpt_dir):
    """Arguments every training script shares (seed, threads, checkpoint place and cadence)."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt", default=ckpt_dir)
    ap.add_argument("--tag", default="seed0")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop (with a checkpoint) at this step; the learning-rate schedule still spans --steps")


def start_run(a):
    """Threads (2 at most), seeds, checkpoint folder; returns the checkpoint path and a numpy RNG."""
    torch.set_num_threads(min(2, a.threads))
    seed_all(a.seed)
    os.makedirs(a.ckpt, exist_ok=True)
    return os.path.join(a.ckpt, f"{a.tag}.pt"), np.random.default_rng(a.seed)
