#!/usr/bin/env python3
"""CPU-seconds of a segmented conversion (plan + render-segment × N + join) against one convert
with the same flags, measured in turn, RUNS times each; medians and their ratio.

  scripts/farm-bench.py [--bin target/release/deeplens] [--segments 3] [--runs 3] INPUT [-- FLAGS…]
"""
import argparse, os, resource, shutil, statistics, subprocess, sys, tempfile, time


def cpu_of(cmds):
    """User + system CPU-seconds and wall seconds of running `cmds` one after another."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    for c in cmds:
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, time.monotonic() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/deeplens")
    ap.add_argument("--segments", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("input")
    ap.add_argument("flags", nargs="*")
    a = ap.parse_args()
    single, seg = [], []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(a.runs):
            out = os.path.join(d, "single.mp4")
            single.append(cpu_of([[a.bin, "convert", a.input, out, "-y", *a.flags]]))
            parts = os.path.join(d, "out.mp4.parts")
            shutil.rmtree(parts, ignore_errors=True)
            plan = os.path.join(parts, "plan.json")
            cmds = [[a.bin, "plan", a.input, os.path.join(d, "out.mp4"), "-y", "--segments", str(a.segments), *a.flags]]
            cmds += [[a.bin, "render-segment", plan, str(k)] for k in range(a.segments)]
            cmds += [[a.bin, "join", plan, "-y"]]
            seg.append(cpu_of(cmds))
    s_cpu = statistics.median(c for c, _ in single)
    p_cpu = statistics.median(c for c, _ in seg)
    print(f"input {a.input}, flags {' '.join(a.flags) or '(defaults)'}, {a.runs} runs each, in turn")
    print(f"single convert:                 CPU {s_cpu:7.2f} s  wall {statistics.median(w for _, w in single):7.2f} s (medians)")
    print(f"plan + {a.segments} segments + join (serial): CPU {p_cpu:7.2f} s  wall {statistics.median(w for _, w in seg):7.2f} s (medians)")
    print(f"CPU ratio segmented / single: {p_cpu / s_cpu:.3f}")


if __name__ == "__main__":
    sys.exit(main())
