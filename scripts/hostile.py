#!/usr/bin/env python3
"""Hostile-user sweep of the deeplens CLI (issue 19): every option that takes a value, on every
subcommand that works on a file, is given values a careless or hostile user might type, and every
file deeplens writes is pointed at places it must refuse. Each case runs in a fresh folder.

    scripts/hostile.py [--bin target/release/deeplens] [--only SUBSTRING] [--timeout S] [--json OUT]

A case passes when the run behaves as the README promises:
  - refused: a non-zero exit that is not a panic (101) or a signal, one error line on stderr
    (at most 300 characters, no control characters), and no file left behind: no OUTPUT, no side
    output, no temp file, every file that was there before unchanged;
  - accepted (exit 0): the outputs asked for exist and are not empty, nothing that was there before
    changed, no temp file is left, and it finished within the timeout.
Anything else (a panic, a signal, a hang, several error lines, an echo of the whole input, a file
changed or left behind) fails. Accepted cases are listed too, so a value that should have been
refused can be spotted. Exits 1 when any case fails.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

VALUES = ["nan", "NaN", "inf", "-inf", "1e30", "-1e30", "-1", "0", "", "1e-310", "99999999999999999999",
          "abc", "\x1b[31mred", "0x10", "1,2,3"]
# Options that name files or formats get these (the numeric sweep covers them too).
FILE_VALUES = ["/dev/zero", "/dev/null", "/nonexistent/dir/f", "in.mp4", "."]

def sh(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)

def make_media(d):
    sh(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", os.path.join(d, "in.mp4")])
    sh(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1",
        os.path.join(d, "in.png")])
    with open(os.path.join(d, "track.json"), "w") as f:
        json.dump({"keys": [{"t": 0, "focus": 0.3}, {"t": 1, "focus": 0.7}]}, f)

def snapshot(d):
    out = {}
    for root, _, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            try:
                with open(p, "rb") as f:
                    out[os.path.relpath(p, d)] = hashlib.md5(f.read()).hexdigest()
            except OSError:
                out[os.path.relpath(p, d)] = "?"
    return out

def help_options(binary, sub):
    text = subprocess.run([binary] + sub + ["--help"], capture_output=True, text=True).stdout
    opts = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("-"):
            continue
        parts = s.replace(",", " ").split()
        longs = [p for p in parts if p.startswith("--")]
        if longs and len(parts) > parts.index(longs[0]) + 1 and parts[parts.index(longs[0]) + 1].startswith("<"):
            opts.append(longs[0])
    return opts

# Each subcommand: its arguments before the options, and the files a successful run writes.
SUBCOMMANDS = {
    "convert": (["convert", "in.mp4", "out.mp4", "--duration", "0.3"], ["out.mp4"]),
    "image": (["image", "in.png", "out.png"], ["out.png"]),
    "preview": (["preview", "--headless", "in.mp4", "--duration", "0.3", "--output", "out.y4m"], ["out.y4m"]),
    "bench": (["bench", "in.mp4", "--duration", "0.3", "--runs", "1"], []),
    "sheet": (["sheet", "in.mp4", "out.png", "--frames", "2"], ["out.png"]),
    "plan": (["plan", "in.mp4", "out.mp4", "--segments", "2"], ["out.mp4.parts/plan.json"]),
    "track plot": (["track", "plot", "track.json", "out.svg"], ["out.svg"]),
}

def cases(binary):
    for name, (base, outputs) in SUBCOMMANDS.items():
        sub = base[:2] if name == "track plot" else base[:1]
        for opt in help_options(binary, sub):
            if opt in ("--output-pattern",):
                continue
            vals = VALUES + (FILE_VALUES if any(k in opt for k in ("file", "track", "depth", "model", "pipeline",
                                                                      "report", "stats", "progress", "matte",
                                                                      "output", "lib", "work-dir")) else [])
            for v in vals:
                if opt == "--work-dir" and v.startswith("/"):
                    continue  # outside the case's folder: it would be created there
                args = list(base)
                if opt in args:  # the base's own value is replaced, not repeated
                    args[args.index(opt) + 1] = v
                else:
                    args += [opt, v]
                outs = [v + "/plan.json"] if opt == "--work-dir" else outputs
                yield name, args, outs
    # Every file deeplens writes, pointed at the input, a device, an existing file, a symlink.
    side = {
        "convert": ["--write-focus-track", "--write-depth", "--write-matte", "--report", "--progress"],
        "image": ["--save-depth", "--report"],
        "preview": ["--stats", "--write-depth", "--write-matte", "--report"],
    }
    for name, flags in side.items():
        base, outputs = SUBCOMMANDS[name]
        src = "in.png" if name == "image" else "in.mp4"
        for flag in flags:
            for target in [src, "/dev/null", "existing.bin", "link.bin", "nodir/x.bin"]:
                yield name, base + [flag, target], outputs
    # OUTPUT itself: the input, with -y; a device; a symlink to a file.
    yield "convert", ["convert", "in.mp4", "in.mp4", "-y"], []
    yield "convert", ["convert", "in.mp4", "/dev/null", "-y"], []
    yield "convert", ["convert", "in.mp4", "existing.bin"], []
    yield "image", ["image", "in.png", "in.png", "-y"], []
    yield "convert", ["convert", "in.mp4", "out.mp4", "--start", "5"], []
    yield "convert", ["convert", "in.mp4", "out.mp4", "--duration", "0"], []
    yield "convert", ["convert", "in.mp4", "out.y4m", "--duration", "0.3"], ["out.y4m"]
    yield "convert", ["convert", "in.mp4", "out.mp4", "--aperture-blades", "6", "--aperture-rotation", "nan"], []
    yield "image", ["image", "in.png", "out.png", "--focus", "0.5", "--max-blur", "1000"], []

def run_case(binary, media, name, args, outputs, timeout):
    d = tempfile.mkdtemp(prefix="hostile-")
    try:
        for f in ("in.mp4", "in.png", "track.json"):
            shutil.copy(os.path.join(media, f), d)
        with open(os.path.join(d, "existing.bin"), "wb") as f:
            f.write(b"keep me")
        with open(os.path.join(d, "target.bin"), "wb") as f:
            f.write(b"link target")
        os.symlink("target.bin", os.path.join(d, "link.bin"))
        before = snapshot(d)
        t0 = time.monotonic()
        try:
            p = subprocess.run([binary] + args, cwd=d, capture_output=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
            rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            rc, err = "timeout", (e.stderr or b"").decode("utf-8", "replace")
        secs = time.monotonic() - t0
        after = snapshot(d)
        problems = []
        changed = [k for k, v in before.items() if after.get(k) != v]
        new = sorted(set(after) - set(before))
        temps = [n for n in new if ".tmp" in n or "deeplens-" in n]
        lines = [l for l in err.splitlines() if l.strip()]
        if rc == "timeout":
            problems.append(f"did not finish in {timeout} s")
        elif rc == 101 or "panicked" in err:
            problems.append("panic")
        elif rc < 0:
            problems.append(f"signal {-rc}")
        elif rc != 0:
            if len(lines) != 1:
                problems.append(f"{len(lines)} error lines")
            if new:
                problems.append(f"left {new}")
        else:
            missing = [o for o in outputs if not os.path.exists(os.path.join(d, o)) or
                       os.path.getsize(os.path.join(d, o)) == 0]
            if missing:
                problems.append(f"exit 0 without {missing}")
        if changed:
            problems.append(f"changed {changed}")
        if temps:
            problems.append(f"temp files {temps}")
        if any(len(l) > 300 for l in lines) or any(ord(c) < 32 and c not in "\n\t" for c in err):
            problems.append("long or raw stderr")
        first = lines[0] if lines else ""
        return {"sub": name, "args": args, "rc": rc, "secs": round(secs, 2), "problems": problems,
                "stderr": first[:200] if rc != 0 else (lines[-1][:200] if lines else "")}
    finally:
        shutil.rmtree(d, ignore_errors=True)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/deeplens")
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--json")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    media = tempfile.mkdtemp(prefix="hostile-media-")
    make_media(media)
    results = []
    for name, args, outputs in cases(binary):
        if a.only and a.only not in " ".join(args):
            continue
        r = run_case(binary, media, name, args, outputs, a.timeout)
        results.append(r)
        tag = "FAIL" if r["problems"] else ("ok-refused" if r["rc"] != 0 else "ok-accepted")
        shown = " ".join(repr(x) if (not x or any(ord(c) < 32 for c in x)) else x for x in args)
        print(f"{tag:11} rc={r['rc']} {r['secs']:6.2f}s  deeplens {shown}  {'; '.join(r['problems'])}  | {r['stderr']!r}",
              flush=True)
    shutil.rmtree(media, ignore_errors=True)
    fails = [r for r in results if r["problems"]]
    acc = sum(1 for r in results if not r["problems"] and r["rc"] == 0)
    print(f"hostile: {len(results)} cases, {len(results) - len(fails)} behaved ({acc} accepted, "
          f"{len(results) - len(fails) - acc} refused), {len(fails)} did not")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(1 if fails else 0)

if __name__ == "__main__":
    main()
