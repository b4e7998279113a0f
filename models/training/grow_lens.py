#!/usr/bin/env python3
"""Carry a lens checkpoint into another feature layout of lens_net.VARIANTS (issue 18's layout
experiments): every weight whose place exists in both is copied, by slice radius where the layout
decides it; what is new starts as the untrained module does (exact disc kernels, a zero
correction, so the compositing prior alone).

  python models/training/grow_lens.py --ckpt shipped.pt --variant s23 --out s23_init.pt
"""
import argparse

import torch

from lens_net import VARIANTS, LensNet


def grow(old_sd, old_variant, new_variant, interpolate=False):
    old, new = LensNet(old_variant), LensNet(new_variant)
    old.load_state_dict(old_sd)
    so, sn = VARIANTS[old_variant], VARIANTS[new_variant]
    assert so["split_highlight"] and sn["split_highlight"], "layouts with split highlights only"
    os_, ns = so["slices"], sn["slices"]
    where = {r: i for i, r in enumerate(os_)}  # new slice radius -> old slice index
    sd, od = new.state_dict(), old.state_dict()
    for k, v in od.items():
        if k in sd and sd[k].shape == v.shape and not k.startswith("features.kernels."):
            sd[k] = v.clone()
    # Disc kernels, per slice: the trained one where the slice and its (level, size) exist in both.
    of, nf = old.features, new.features
    for gi, (g, members) in enumerate(zip(nf.groups, nf.members)):
        for j, i in enumerate(members):
            oi = where.get(ns[i])
            if oi is None:
                continue
            for ogi, (og, om) in enumerate(zip(of.groups, of.members)):
                if og == g and oi in om:
                    sd[f"features.kernels.{gi}"][j] = od[f"features.kernels.{ogi}"][om.index(oi)]
    # The kernel net's first layer reads 6 maps + one coverage per slice.
    w_old, w_new = od["kernels.e0.0.0.weight"], sd["kernels.e0.0.0.weight"].zero_()
    w_new[:, :6] = w_old[:, :6]
    for i, r in enumerate(ns):
        if r in where:
            w_new[:, 6 + i] = w_old[:, 6 + where[r]]
    # Its last layer writes one correction per feature: colour (S), highlight (S), sharp c, c·h.
    S, So = len(ns), len(os_)
    row = lambda part, i, n: part * n + i
    for name in ("kernels.out.weight", "kernels.out.bias"):
        t_old, t_new = od[name], sd[name].zero_()
        for i, r in enumerate(ns):
            for part in (0, 1):
                if r in where:
                    t_new[row(part, i, S)] = t_old[row(part, where[r], So)]
                elif interpolate:
                    # A new slice between two old ones: their corrections, weighted by radius.
                    lo = max((q for q in os_ if q < r), default=None)
                    hi = min((q for q in os_ if q > r), default=None)
                    if lo is None or hi is None:
                        continue
                    f = (r - lo) / (hi - lo)
                    t_new[row(part, i, S)] = (1 - f) * t_old[row(part, where[lo], So)] + f * t_old[row(part, where[hi], So)]
        t_new[2 * S:] = t_old[2 * So:]
    new.load_state_dict(sd)
    return new.state_dict()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interpolate", action="store_true",
                    help="a new slice between two old ones starts with their corrections weighted by radius, not zero")
    a = ap.parse_args()
    st = torch.load(a.ckpt, map_location="cpu", weights_only=False)
    old_variant = st.get("args", {}).get("variant", "s15")
    lens = grow(st["lens"], old_variant, a.variant, a.interpolate)
    torch.save({"lens": lens, "ups": st["ups"], "args": {"variant": a.variant, "grown_from": a.ckpt}, "step": 0, "wall": 0.0}, a.out)
    print(f"{old_variant} -> {a.variant}: wrote {a.out}")


if __name__ == "__main__":
    main()
