#!/usr/bin/env bash
# gpu-check.sh: the prepared check for a lent GPU machine (issue 20). It reports what the machine
# has (nvidia-smi, CUDA libraries, Python's onnxruntime and its providers, PyTorch and its nvidia-*
# wheels), looks for an ONNX Runtime library there that has the CUDA execution provider, points
# the compute benchmark at it with the CUDA/cuDNN libraries found, and runs it at 1920x1080 and
# 3840x2160 on `--device cuda`, then, if the budget has time left, 3840x2160 with the
# half-precision models (`--fp16`). Everything goes to $OUT (at most 7 files): report.txt (the whole
# log), summary.txt, bench-cuda-1080p.json, bench-cuda-2160p.json, bench-cuda-2160p-fp16.json,
# and bench-cpu-1080p.json
# when no CUDA-capable ONNX Runtime is there (the benchmark on the machine's own CPU build, so
# the trip still says the binary runs there).
#
# The benchmark is built here, not there (no FFmpeg is needed; the binary only needs glibc):
#   cargo build --release -p deeplens-eval --example compute_bench
#   strip --strip-debug target/release/examples/compute_bench   # ~25 MB -> ~4 MB
# and carried by the device tool: run with carry ["target/release/examples/compute_bench"] and
# command "bash scripts/gpu-check.sh", timeout_s 540. The whole trip stays under 8 minutes.
#
# Settings (environment): OUT (default ./gpu-check-out), COMPUTE_BENCH (the binary), FRAMES
# (default 10), ORT_GPU_LIB (a CUDA-capable libonnxruntime.so to use first), PYTHON (default
# python3), GPU_CHECK_BUDGET_S (default 450: steps are cut short to end within it).
# A CUDA-capable ONNX Runtime may also be carried in the ignored folder .ort-gpu/ (its
# libonnxruntime.so* beside libonnxruntime_providers_cuda.so and _shared.so), whole or as pieces
# of a tar.xz (ort-gpu.tar.xz.part-aa, -ab, … from `split -b 28M`), one piece per call while the
# machine stays warm: pieces carried earlier stay there and are joined here.
#
# Exit status: 0 when the report is complete (also when no CUDA-capable ONNX Runtime was found:
# summary.txt says so), 1 when a benchmark run failed, 2 when the benchmark binary is missing.
set -u

cd "$(dirname "$0")/.." || exit 2
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT" || exit 2
REPORT=$OUT/report.txt
SUMMARY=$OUT/summary.txt
: >"$REPORT"
: >"$SUMMARY"
BIN=${COMPUTE_BENCH:-target/release/examples/compute_bench}
FRAMES=${FRAMES:-10}
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET_S:-450}
START=$(date +%s)

log() { printf '%s\n' "$*" | tee -a "$REPORT"; }
note() { printf '%s\n' "$*" | tee -a "$REPORT" >>"$SUMMARY"; }
section() { log ""; log "== $* =="; }
have() { command -v "$1" >/dev/null 2>&1; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
# names DIR [REGEX]: the names of the files in DIR (those matching REGEX), on one line.
names() {
  local f n out=""
  for f in "$1"/*; do
    [ -e "$f" ] || continue
    n=${f##*/}
    if [ -n "${2:-}" ] && ! printf '%s\n' "$n" | grep -Eq "$2"; then continue; fi
    out="$out $n"
  done
  echo "${out# }"
}

# step LIMIT CMD...: run CMD with its output in the report, cut at LIMIT seconds or at what is
# left of the budget, whichever comes first. Returns CMD's status (124 when cut).
step() {
  local limit=$1 rem
  shift
  rem=$(left)
  if [ "$rem" -lt 10 ]; then
    log "(skipped, budget spent: $*)"
    return 124
  fi
  [ "$limit" -gt "$rem" ] && limit=$rem
  log "\$ $*"
  timeout -k 5 "$limit" "$@" >>"$REPORT" 2>&1
  local rc=$?
  [ "$rc" -eq 124 ] && log "(cut after ${limit}s)"
  [ "$rc" -ne 0 ] && log "(exit $rc)"
  return "$rc"
}

section "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
log "host: $(uname -a)"
log "cores: $(nproc 2>/dev/null || echo '?')"
have free && step 10 free -g
if have git && git rev-parse --git-dir >/dev/null 2>&1; then log "checkout: $(git rev-parse --short HEAD 2>/dev/null)"; fi

section "benchmark binary"
BIN_OK=1
if [ ! -f "$BIN" ]; then
  BIN_OK=0
  note "MISSING: $BIN. Build it before the trip: cargo build --release -p deeplens-eval --example compute_bench, then run the device tool with carry [\"target/release/examples/compute_bench\"]."
elif [ ! -x "$BIN" ]; then
  chmod +x "$BIN" 2>/dev/null || true
fi
if [ "$BIN_OK" -eq 1 ]; then
  size=$(wc -c <"$BIN")
  log "$BIN: $size bytes"
  [ "$size" -gt $((48 * 1024 * 1024)) ] && log "warning: over 48 MiB; strip --strip-debug it before carrying"
  have ldd && step 10 ldd "$BIN"
fi

section "GPU"
if have nvidia-smi; then
  step 30 nvidia-smi
  step 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  gpu=$(timeout 20 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
  note "GPU: ${gpu:-nvidia-smi gave no GPU}"
else
  note "GPU: nvidia-smi not found"
fi

section "CUDA libraries (ldconfig and common folders)"
cuda_pat='lib(cuda|cudart|cublas|cublasLt|cudnn|cufft|curand|nvrtc|nvJitLink|nvinfer)\.so'
if have ldconfig; then
  ldconfig -p 2>/dev/null | grep -E "$cuda_pat" | tee -a "$REPORT" >/dev/null
fi
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] || continue
  found=$(names "$d" "$cuda_pat")
  [ -n "$found" ] && log "$d: $found"
done
have nvcc && step 10 nvcc --version

section "Python: onnxruntime, PyTorch, nvidia-* wheels"
PY_OK=0
SITE_DIRS=""
ORT_PY_DIR=""
if have "$PY"; then
  PY_OK=1
  step 20 "$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])'
  SITE_DIRS=$(timeout 20 "$PY" -c 'import site, sysconfig
dirs = site.getsitepackages() + [site.getusersitepackages(), sysconfig.get_paths()["purelib"]]
print("\n".join(dict.fromkeys(d for d in dirs if d)))' 2>/dev/null)
  log "site-packages: $(echo "$SITE_DIRS" | tr '\n' ' ')"
  step 60 "$PY" -c 'import onnxruntime as o, os
print("onnxruntime", o.__version__, "at", os.path.dirname(o.__file__))
print("providers:", o.get_available_providers())
print("CUDAExecutionProvider listed:", "CUDAExecutionProvider" in o.get_available_providers())'
  ORT_PY_DIR=$(timeout 60 "$PY" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' 2>/dev/null)
  if [ -n "$ORT_PY_DIR" ] && [ -d "$ORT_PY_DIR" ]; then
    log "onnxruntime capi: $(names "$ORT_PY_DIR")"
  fi
  step 90 "$PY" -c 'import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
print("GPU:", torch.cuda.is_available() and torch.cuda.get_device_name(0))'
else
  log "no $PY"
fi
NV_LIB_DIRS=""
while IFS= read -r sp; do
  [ -n "$sp" ] || continue
  for d in "$sp"/nvidia/*/lib "$sp"/nvidia/cu*/lib; do
    [ -d "$d" ] || continue
    case ":$NV_LIB_DIRS:" in *":$d:"*) continue ;; esac
    NV_LIB_DIRS=${NV_LIB_DIRS:+$NV_LIB_DIRS:}$d
    log "$d: $(names "$d" '\.so')"
  done
  if [ -d "$sp/torch/lib" ]; then log "$sp/torch/lib: $(names "$sp/torch/lib" "$cuda_pat")"; fi
done <<EOF
$SITE_DIRS
EOF

section "a CUDA-capable ONNX Runtime"
# A folder qualifies when it holds libonnxruntime.so* and libonnxruntime_providers_cuda.so.
main_lib() {
  local d=$1 f
  for f in "$d"/libonnxruntime.so "$d"/libonnxruntime.so.*; do
    [ -f "$f" ] || continue
    case "$f" in *providers*) continue ;; esac
    echo "$f"
    return 0
  done
  return 1
}
ORT_LIB=""
try_dir() {
  local d=$1 lib
  [ -n "$d" ] && [ -d "$d" ] || return 1
  lib=$(main_lib "$d") || return 1
  if [ -f "$d/libonnxruntime_providers_cuda.so" ]; then
    log "CUDA-capable: $lib"
    ORT_LIB=$lib
    return 0
  fi
  log "no CUDA provider beside $lib"
  return 1
}
CPU_ORT_LIB=""
if [ -n "${ORT_GPU_LIB:-}" ] && [ -f "$ORT_GPU_LIB" ]; then
  ORT_LIB=$ORT_GPU_LIB
  log "ORT_GPU_LIB: $ORT_LIB"
fi
# Pieces carried in earlier calls (.ort-gpu/ort-gpu.tar.xz.part-aa, -ab, …: `split -b`) are
# joined and unpacked into .ort-gpu/ first.
set -- "$PWD"/.ort-gpu/ort-gpu.tar.xz.part-*
if [ -z "$ORT_LIB" ] && [ -f "$1" ]; then
  log "joining $# pieces of .ort-gpu/ort-gpu.tar.xz"
  cat "$@" | timeout 120 tar -xJf - -C "$PWD/.ort-gpu" >>"$REPORT" 2>&1 || log "(the pieces did not unpack: one missing?)"
fi
[ -z "$ORT_LIB" ] && try_dir "$PWD/.ort-gpu"
[ -z "$ORT_LIB" ] && try_dir "$ORT_PY_DIR"
[ -n "$ORT_PY_DIR" ] && CPU_ORT_LIB=$(main_lib "$ORT_PY_DIR")
if [ -z "$ORT_LIB" ]; then
  log "searching the file system for libonnxruntime_providers_cuda.so (60 s at most)"
  roots=""
  for r in /usr /opt /root /home /workspace /srv; do [ -d "$r" ] && roots="$roots $r"; done
  # shellcheck disable=SC2086 # the roots are words
  hits=$(timeout 60 find $roots -xdev -name 'libonnxruntime_providers_cuda.so' 2>/dev/null | head -n 5)
  for h in $hits; do
    log "found $h"
    try_dir "$(dirname "$h")" && break
  done
fi

# The CUDA/cuDNN libraries the provider needs: the nvidia-* wheels, then the system's.
LIBS=$NV_LIB_DIRS
for d in /usr/local/cuda/lib64 /usr/local/nvidia/lib64; do
  [ -d "$d" ] && LIBS=${LIBS:+$LIBS:}$d
done
[ -n "$ORT_LIB" ] && LIBS="$(dirname "$ORT_LIB")${LIBS:+:$LIBS}"
export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

BENCH_FAILED=0
bench() { # NAME LIMIT ARGS...
  local name=$1 limit=$2 rc
  shift 2
  section "compute_bench $name"
  step "$limit" "$BIN" --frames "$FRAMES" --warmup 2 --json "$OUT/bench-$name.json" "$@"
  rc=$?
  if [ "$rc" -eq 0 ]; then note "bench $name: ran, JSON in bench-$name.json"; else
    note "bench $name: FAILED (exit $rc; see report.txt)"
    BENCH_FAILED=1
  fi
}

if [ "$BIN_OK" -eq 0 ]; then
  note "no benchmark run: the binary is missing"
  exit 2
fi
if [ -n "$ORT_LIB" ]; then
  note "ONNX Runtime with CUDA: $ORT_LIB"
  prov_dir=$(dirname "$ORT_LIB")
  if have ldd && [ -f "$prov_dir/libonnxruntime_providers_cuda.so" ]; then
    section "what the CUDA provider links against (with LD_LIBRARY_PATH above)"
    ldd "$prov_dir/libonnxruntime_providers_cuda.so" 2>&1 | tee -a "$REPORT" | grep -q 'not found' \
      && note "warning: the CUDA provider misses libraries (see 'not found' in report.txt): CUDA/cuDNN major versions differ from the ones it was built for"
  fi
  bench cuda-1080p 150 --device cuda --ort-lib "$ORT_LIB" --size 1920x1080
  bench cuda-2160p 210 --device cuda --ort-lib "$ORT_LIB" --size 3840x2160
  # Optional: the half-precision models (--precision fp16), only with a minute or more left; a cut
  # or failed run here is reported but does not fail the check.
  if [ "$(left)" -ge 60 ]; then
    section "compute_bench cuda-2160p-fp16 (optional)"
    if step 120 "$BIN" --frames "$FRAMES" --warmup 2 --json "$OUT/bench-cuda-2160p-fp16.json" --device cuda --ort-lib "$ORT_LIB" --size 3840x2160 --fp16; then
      note "bench cuda-2160p-fp16: ran, JSON in bench-cuda-2160p-fp16.json"
    else
      note "bench cuda-2160p-fp16 (optional): did not finish (see report.txt)"
    fi
  else
    note "bench cuda-2160p-fp16 (optional): skipped, $(left) s of the budget left"
  fi
else
  note "NO CUDA-capable ONNX Runtime on this machine (no libonnxruntime_providers_cuda.so beside a libonnxruntime.so; Python's onnxruntime lists no CUDAExecutionProvider unless said above). Bring one: ORT_GPU_LIB=PATH, or the folder .ort-gpu/ carried (see README, GPU)."
  if [ -n "$CPU_ORT_LIB" ]; then
    bench cpu-1080p 120 --device cpu --ort-lib "$CPU_ORT_LIB" --size 1920x1080 --renderer physical
  fi
fi

section "summary"
if [ "$PY_OK" -eq 1 ]; then
  for j in "$OUT"/bench-*.json; do
    [ -f "$j" ] || continue
    timeout 20 "$PY" - "$j" >>"$SUMMARY" 2>&1 <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
ort = r.get("onnxruntime") or {}
print(f"{sys.argv[1].rsplit('/', 1)[-1]}: device {r['device']}, ONNX Runtime {ort.get('version')} at {ort.get('library')}")
for run in r["runs"]:
    head = f"  {run['renderer']:8} {run['width']}x{run['height']}"
    if run["status"] != "ran":
        print(head, run["status"], run.get("note") or run.get("error"))
        continue
    ms, p = run["median_ms"], run["providers"]
    piped = run.get("fps_pipelined")
    print(head, f"depth {ms['depth']:.1f} lens {ms['lens']:.1f} upsample {ms['upsample']:.1f} total {ms['total']:.1f} ms;",
          f"{run['fps_sequential']:.1f} fps sequential, {piped:.1f} fps pipelined;" if piped else f"{run['fps_sequential']:.1f} fps;",
          f"providers {p['depth']} / {p['lens']} / {p['upsample']}")
PYEOF
  done
fi
log "elapsed: $(($(date +%s) - START)) s"
cat "$SUMMARY"
exit "$BENCH_FAILED"
