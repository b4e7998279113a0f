#!/usr/bin/env python3
"""Jointly train the learned lens blur (Eq. 2) and the guided upsampling (Eq. 3) on the layered
synthetic samples written by `cargo run --release -p deeplens-eval --example synth`, with the
normalised loss of Eq. 5 (α = 1.5) on L and H (Eq. 6), or L1 (--loss l1) for the ablation.

One training example: the synth sample at full size S gives A (input), D (true or corrupted depth),
H* (target).  A share of the steps (--full-share) runs the lens alone at full size on samples whose
blur fits r_max; the others run it at S/2 on the area-downsampled input with
    signed_depth = (D - d_f) · (max_blur/2) / r_max,
its target L* is H* downsampled; the upsampler then produces H at S from A, and its
low_signed_depth uses the same scaling at the low level.  Random crops, flips.

--thinlens DIR adds Cycles thin-lens renders (gen_thinlens.py; never the selection or test scenes)
for a share of the steps (--thinlens-share), cut at the level the pipeline's lens really sees them:
the lens alone at full size where max_blur <= r_max, else the lens at half size and the upsampler
back; a scene whose blur needs more than one halving is first area-downsampled until one is left
(the last, finest upsampling step is the one trained).  A share of those steps (--thinlens-corrupt)
softens the true depth (box-downsampled by 2-8 and bilinearly brought back) as predicted depth is.

  nice -n 10 python models/training/train_lens.py --data /work/data/lens --steps 3000 --seed 0
"""
import argparse
import glob
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from common import CsvLog, add_run_args, checkpoint, cosine_lr, restore, start_run
from lens_net import R_MAX, LensNet, UpsampleNet, normalised_loss
from synth_io import full_scale, read_sample, to_unit

HERE = os.path.dirname(os.path.abspath(__file__))


def _read(meta_path):
    return read_sample(meta_path[:-5])


def load_synth(folder, cache=None, workers=1):
    """All samples of a synth folder as arrays (cached to an .npz beside it)."""
    cache = cache or os.path.join(folder, "cache.npz")
    if os.path.exists(cache):
        d = np.load(cache)
        return {k: d[k] for k in d.files}
    metas = sorted(glob.glob(os.path.join(folder, "[0-9]*.json")))
    inp, dep, cor, tgt, foc, mb = [], [], [], [], [], []
    if workers > 1:
        from multiprocessing import Pool
        with Pool(workers) as pool:
            samples = list(tqdm(pool.imap(_read, metas, chunksize=16), total=len(metas), desc="load synth"))
    else:
        samples = (_read(m) for m in tqdm(metas, desc="load synth"))
    for i, t, d, c, j in samples:
        inp.append(i); tgt.append(t); dep.append(d); cor.append(c)
        foc.append(j["focus"]); mb.append(j["max_blur"])
    d = dict(input=np.stack(inp), depth=np.stack(dep), depth_corrupt=np.stack(cor), target=np.stack(tgt),
             focus=np.array(foc, np.float32), max_blur=np.array(mb, np.float32))
    np.savez(cache, **d)
    return d


def to_device(d, device):
    """The image arrays as float tensors in [0,1] on `device` (NHWC / NHW), the rest as is: crops are
    then cut where the training runs."""
    out = dict(d)
    for k in ("input", "target", "depth", "depth_corrupt"):
        out[k] = torch.from_numpy(d[k]).to(device).float().div_(full_scale(d[k].dtype))
    return out


def to_t(d, idx, key):
    a = d[key]
    if isinstance(a, torch.Tensor):
        t = a[torch.as_tensor(idx, device=a.device)]
    else:
        t = torch.from_numpy(to_unit(a[idx]))
    return t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]


def crop_batch(d, idx, rng, crop, corrupt_p, even=False, augment=True):
    """A (input), H* (truth), D (true or, for a share corrupt_p, corrupted depth), focus and max_blur
    of samples idx, randomly cropped to crop² (at even offsets when `even`) and flipped."""
    A, Ht = to_t(d, idx, "input"), to_t(d, idx, "target")
    D = to_t(d, idx, "depth")
    if corrupt_p > 0:
        Dc = to_t(d, idx, "depth_corrupt")
        use = torch.from_numpy(rng.random(len(idx)) < corrupt_p).float().view(-1, 1, 1, 1).to(D.device)
        D = use * Dc + (1 - use) * D
    focus = torch.from_numpy(d["focus"][idx]).view(-1, 1, 1, 1).to(A.device)
    mb = torch.from_numpy(d["max_blur"][idx]).view(-1, 1, 1, 1).to(A.device)
    if augment:
        S = A.shape[2]
        step = 2 if even else 1
        y0, x0 = rng.integers(0, S - crop + 1, 2) // step * step
        sl = (slice(None), slice(None), slice(y0, y0 + crop), slice(x0, x0 + crop))
        A, Ht, D = A[sl], Ht[sl], D[sl]
        if rng.random() < 0.5:
            A, Ht, D = A.flip(-1), Ht.flip(-1), D.flip(-1)
    return A, Ht, D, focus, mb


def make_full_batch(d, idx, rng, crop, corrupt_p):
    """The lens alone at the sample's own resolution (blur ≤ r_max there), as a still whose blur fits
    r_max runs: signed_depth = (D - d_f) · max_blur / r_max, target the full-size truth."""
    A, Ht, D, focus, mb = crop_batch(d, idx, rng, crop, corrupt_p)
    return A, Ht, (D - focus) * mb / R_MAX


def make_batch(d, idx, rng, crop, corrupt_p, augment=True):
    """Lens at half size (target: the truth area-downsampled) and the upsampler back to full size."""
    A, Ht, D, focus, mb = crop_batch(d, idx, rng, crop, corrupt_p, even=True, augment=augment)
    a_lo = F.avg_pool2d(A, 2)
    h_lo = F.avg_pool2d(Ht, 2)
    d_lo = F.avg_pool2d(D, 2)
    sd_lo = (d_lo - focus) * (mb / 2) / R_MAX
    return A, Ht, a_lo, h_lo, sd_lo


def load_thinlens(folder):
    """Thin-lens scenes as (input, truth, depth) float arrays at the level the lens or the last
    upsampling step sees, split into the full-size (blur <= r_max) and half-size groups."""
    import json
    from synth_io import imread
    groups = {"full": [], "half": []}
    for meta in sorted(glob.glob(os.path.join(folder, "*.json"))):
        stem = meta[:-5]
        j = json.load(open(meta))
        a = [to_unit(imread(f"{stem}_{k}.png")) for k in ("input", "dof", "depth")]
        mb = float(j["max_blur"])
        while mb > 2 * R_MAX:
            a = [x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2] for x in a]
            a = [x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, *x.shape[2:]).mean((1, 3)) for x in a]
            mb /= 2
        groups["full" if mb <= R_MAX else "half"].append(
            dict(input=a[0], target=a[1], depth=a[2], focus=float(j["focus"]), max_blur=mb))
    return groups


def thinlens_batch(scenes, idx, rng, crop, corrupt_p):
    """Crops (at even offsets) of thin-lens scenes idx as A, H*, D, focus, max_blur tensors."""
    A, H, D, foc, mb = [], [], [], [], []
    for i in idx:
        s = scenes[i]
        h, w = s["depth"].shape
        c = min(crop, h // 2 * 2, w // 2 * 2)
        y0, x0 = rng.integers(0, h - c + 1) // 2 * 2, rng.integers(0, w - c + 1) // 2 * 2
        sl = (slice(y0, y0 + c), slice(x0, x0 + c))
        a, t, d = s["input"][sl], s["target"][sl], s["depth"][sl]
        if rng.random() < 0.5:
            a, t, d = a[:, ::-1], t[:, ::-1], d[:, ::-1]
        A.append(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1))
        H.append(torch.from_numpy(np.ascontiguousarray(t)).permute(2, 0, 1))
        D.append(torch.from_numpy(np.ascontiguousarray(d))[None])
        foc.append(s["focus"]); mb.append(s["max_blur"])
    A, H, D = torch.stack(A), torch.stack(H), torch.stack(D)
    if corrupt_p > 0 and rng.random() < corrupt_p:
        k = int(rng.choice([2, 4, 8]))
        D = F.interpolate(F.avg_pool2d(D, k), size=D.shape[-2:], mode="bilinear", align_corners=False)
    t = lambda v: torch.tensor(v, dtype=torch.float32).view(-1, 1, 1, 1)
    return A, H, D, t(foc), t(mb)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/data/lens/train")
    ap.add_argument("--val", default="/work/data/lens/val")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--loss", choices=["normalised", "l1", "normalised+l1", "normalised-through-weights"], default="normalised",
                    help="normalised: Eq. 4/5 with the weights held constant in the gradient; "
                         "normalised-through-weights: Eq. 5 differentiated as written (ablation); l1")
    ap.add_argument("--corrupt", type=float, default=0.5, help="share of examples trained on corrupted depth")
    ap.add_argument("--full-share", type=float, default=0.0,
                    help="share of steps that train the lens alone at full resolution on samples with max_blur <= r_max")
    ap.add_argument("--feature-lr-scale", type=float, default=0.01, help="learning-rate factor of the feature convolutions")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (new optimiser)")
    ap.add_argument("--variant", default="s15", help="lens feature layout (lens_net.VARIANTS)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the whole data set then lives on the GPU)")
    ap.add_argument("--workers", type=int, default=1, help="processes that decode the PNG samples")
    ap.add_argument("--time-budget", type=float, default=None, metavar="S",
                    help="measure the speed over the first 50 steps, then set --steps to what fits in S seconds of "
                         "training (the value used is printed and kept in the checkpoint's args)")
    ap.add_argument("--thinlens", default=None, metavar="DIR", help="Cycles thin-lens renders to mix in (gen_thinlens.py)")
    ap.add_argument("--thinlens-share", type=float, default=0.5, help="share of steps on the thin-lens renders")
    ap.add_argument("--thinlens-crop", type=int, default=192, help="crop side of thin-lens examples at full size")
    ap.add_argument("--thinlens-corrupt", type=float, default=0.2, help="share of thin-lens steps on softened depth")
    ap.add_argument("--log-dir", default=os.path.join(HERE, "logs"))
    add_run_args(ap, "/work/ckpt/lens")
    a = ap.parse_args()
    ck_path, rng = start_run(a)
    dev = torch.device(a.device)
    lens, ups = LensNet(a.variant).to(dev), UpsampleNet().to(dev)
    params = list(lens.parameters()) + list(ups.parameters())
    # The feature convolutions start as exact disc blurs whose weights are ~1/area: they get a
    # much smaller step than the kernel and upsampling networks, or Adam's first steps wreck them.
    feat = set(id(p) for p in lens.features.parameters())
    groups = [{"params": [p for p in params if id(p) not in feat], "scale": 1.0},
              {"params": list(lens.features.parameters()), "scale": a.feature_lr_scale}]
    opt = torch.optim.Adam(groups, lr=a.lr)
    modules = {"lens": lens, "ups": ups}
    step, wall = restore(ck_path, modules, opt, rng, dev)
    if step == 0 and a.init:
        st = torch.load(a.init, map_location=dev, weights_only=False)
        lens.load_state_dict(st["lens"]); ups.load_state_dict(st["ups"])
    data = load_synth(a.data, workers=a.workers)
    small = np.flatnonzero(data["max_blur"] <= R_MAX)
    tl = load_thinlens(a.thinlens) if a.thinlens else None
    if tl is not None:
        print(f"thin-lens: {len(tl['full'])} full-size, {len(tl['half'])} half-size scenes", flush=True)
    val = load_synth(a.val, workers=a.workers) if a.val and os.path.isdir(a.val) else None
    if dev.type != "cpu":
        data = to_device(data, dev)
        val = to_device(val, dev) if val is not None else None
    lossf = {"normalised": normalised_loss, "l1": lambda p, t: (p - t).abs().mean(),
             # Eq. 5 weighs errors by |e|^1.5, so the many small ones of flat regions hardly
             # count; the plain mean error added back gives them weight (issue 18: flat regions).
             "normalised+l1": lambda p, t: normalised_loss(p, t) + (p - t).abs().mean(),
             "normalised-through-weights": lambda p, t: normalised_loss(p, t, hold_weights=False)}[a.loss]
    log = CsvLog(os.path.join(a.log_dir, f"lens_{a.tag}.csv"),
                 ["step", "loss", "loss_L", "loss_H", "val_psnr_H", "lr", "wall_s"], resume_step=step)
    bar = tqdm(total=a.steps, initial=step, desc=f"lens[{a.tag}]", dynamic_ncols=True)
    t_last = time.time()
    n = len(data["focus"])
    end = min(a.steps, a.stop_at or a.steps)
    t_start, step_start = time.time(), step
    while step < end:
        if a.time_budget and step == step_start + 50:
            rate = 50 / (time.time() - t_start)
            a.steps = max(step + 1, step + int(rate * (a.time_budget - (time.time() - t_start))))
            end = min(a.steps, a.stop_at or a.steps)
            bar.total = a.steps
            print(f"\n{rate:.1f} steps/s: --steps {a.steps} fits the time budget", flush=True)
        lr = cosine_lr(step, a.steps, a.lr)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("scale", 1.0)
        if tl is not None and rng.random() < a.thinlens_share:
            nf, nh = len(tl["full"]), len(tl["half"])
            kind = "full" if rng.random() < nf / max(1, nf + nh) else "half"
            sc = tl[kind]
            A, Ht, D, focus, mb = thinlens_batch(sc, rng.integers(0, len(sc), a.batch), rng, a.thinlens_crop, a.thinlens_corrupt)
            A, Ht, D, focus, mb = (x.to(dev) for x in (A, Ht, D, focus, mb))
            if kind == "full":
                lL = lossf(lens(A, (D - focus) * mb / R_MAX), Ht)
                lH = torch.zeros(())
            else:
                a_lo, h_lo = F.avg_pool2d(A, 2), F.avg_pool2d(Ht, 2)
                sd_lo = (F.avg_pool2d(D, 2) - focus) * (mb / 2) / R_MAX
                L = lens(a_lo, sd_lo)
                lL, lH = lossf(L, h_lo), lossf(ups(A, a_lo, L, sd_lo), Ht)
        elif a.full_share > 0 and len(small) and rng.random() < a.full_share:
            # crop/2 at full resolution: the lens sees the same size as in a half-size step.
            A, Ht, sd = make_full_batch(data, small[rng.integers(0, len(small), a.batch)], rng, a.crop // 2, a.corrupt)
            lL = lossf(lens(A, sd), Ht)
            lH = torch.zeros(())
        else:
            idx = rng.integers(0, n, a.batch)
            A, Ht, a_lo, h_lo, sd_lo = make_batch(data, idx, rng, a.crop, a.corrupt)
            L = lens(a_lo, sd_lo)
            H = ups(A, a_lo, L, sd_lo)
            lL, lH = lossf(L, h_lo), lossf(H, Ht)
        loss = lL + lH
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        now = time.time(); wall += now - t_last; t_last = now
        bar.update(1)
        bar.set_postfix(L=f"{lL.item():.4f}", H=f"{lH.item():.4f}")
        vp = ""
        if step % a.ckpt_every == 0 or step == end:
            if val is not None:
                with torch.no_grad():
                    vi = np.arange(min(16, len(val["focus"])))
                    A, Ht, a_lo, h_lo, sd_lo = make_batch(val, vi, rng, 0, 0.0, augment=False)
                    H = ups(A, a_lo, lens(a_lo, sd_lo), sd_lo).clamp(0, 1)
                    mse = ((H - Ht) ** 2).flatten(1).mean(1)
                    vp = float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean())
            checkpoint(ck_path, modules, opt, rng, step, wall, vars(a))
        log.write(step=step, loss=f"{loss.item():.5f}", loss_L=f"{lL.item():.5f}", loss_H=f"{lH.item():.5f}",
                  val_psnr_H=vp if vp == "" else f"{vp:.3f}", lr=f"{lr:.6f}", wall_s=f"{wall:.1f}")
    bar.close()


if __name__ == "__main__":
    main()
