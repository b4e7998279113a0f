#!/usr/bin/env python3
"""Plot CSV loss logs to PNGs beside them (smoothed training loss and the validation column): the
ones named on the command line, or all of models/training/logs/."""
import csv
import glob
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def smooth(v, k=50):
    if len(v) < k:
        return np.asarray(v)
    return np.convolve(v, np.ones(k) / k, mode="valid")


def main():
    for path in sys.argv[1:] or sorted(glob.glob(os.path.join(HERE, "logs", "*.csv"))):
        rows = list(csv.DictReader(open(path)))
        if not rows:
            continue
        cols = [c for c in rows[0] if c not in ("step", "lr", "wall_s")]
        val = [c for c in cols if c.startswith("val")]
        train = [c for c in cols if c not in val]
        fig, axes = plt.subplots(1, 2 if val else 1, figsize=(10 if val else 5, 3.5), squeeze=False)
        step = np.array([int(r["step"]) for r in rows])
        for c in train:
            v = np.array([float(r[c]) for r in rows])
            s = smooth(v)
            axes[0, 0].plot(step[len(step) - len(s):], s, label=c)
        axes[0, 0].set_xlabel("step"); axes[0, 0].set_title("training (moving average of 50)"); axes[0, 0].legend()
        for c in val:
            pts = [(int(r["step"]), float(r[c])) for r in rows if r[c] != ""]
            if pts:
                axes[0, 1].plot(*zip(*pts), "o-", label=c)
        if val:
            axes[0, 1].set_xlabel("step"); axes[0, 1].set_title("held-out synthetic"); axes[0, 1].legend()
        fig.suptitle(os.path.basename(path))
        fig.tight_layout()
        fig.savefig(path[:-4] + ".png", dpi=80)
        plt.close(fig)
        print("wrote", path[:-4] + ".png")


if __name__ == "__main__":
    main()
