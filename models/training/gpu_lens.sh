#!/usr/bin/env bash
# The lens run on a lent GPU machine (the `device` tool), as one command: generate the layered
# training data with the synth example on all cores, then train the lens blur + upsampler on the GPU
# for a fixed time budget, writing the checkpoint and loss log to $OUT.
#
#   SYNTH=path/to/synth OUT=/some/dir DEVICE=cuda models/training/gpu_lens.sh COUNT BUDGET_S
#
# With STEPS_a / STEPS_b set, the runs take that many steps instead of a time budget (the
# reproduction: the time-budgeted runs fix their step count after 50 steps, inside the 100-step
# warm-up, so a fixed count gives the same learning-rate schedule).
#
# The same script runs on a CPU with small numbers (DEVICE=cpu) to check it before the GPU run.
# THINLENS=DIR mixes Cycles thin-lens renders (gen_thinlens.py) into both runs (half the steps);
# they need Blender to make and are ~500 MB for 150 pairs, more than the device tool carries, so
# the shipped thin-lens leg ran on the CPU (README.md here).
set -euo pipefail
cd "$(dirname "$0")"
COUNT=${1:-4000}
BUDGET=${2:-300}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
DATA=${DATA:-/tmp/lensdata}
export PYTHONUNBUFFERED=1
mkdir -p "$DATA/tex" "$OUT"
( nvidia-smi -L || true; $PY -c 'import torch, onnxruntime as o; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "| onnxruntime", o.__version__, o.get_available_providers())' ) 2>&1 | tee "$OUT/env.txt"
# The texture photos: TEX if given (copies carried along), else scikit-image's own.
skdata=${TEX:-$($PY -c 'import os, skimage; print(os.path.join(os.path.dirname(skimage.__file__), "data"))')}
for f in $($PY -c 'import textures; print(" ".join(textures.PHOTOS))'); do
  [ -e "$skdata/$f" ] && ln -sf "$(realpath "$skdata/$f")" "$DATA/tex/$f"
done
echo "textures: $(ls "$DATA/tex" | wc -l)" | tee -a "$OUT/env.txt"
t0=$(date +%s)
for spec in "weak 1000" "bright 1001"; do
  read -r lights seed <<<"$spec"
  "$SYNTH" --out "$DATA/$lights/train" --count "$COUNT" --seed "$seed" --size 256 --max-blur 32 --textures "$DATA/tex" --lights "$lights" >/dev/null
  "$SYNTH" --out "$DATA/$lights/val" --count 16 --seed 2000 --size 256 --max-blur 32 --textures "$DATA/tex" --lights "$lights" >/dev/null
done
# One folder of links holding both sets (the loader reads NNNNN.json + its PNGs).
mkdir -p "$DATA/mix/train" "$DATA/mix/val"
for part in train val; do
  i=0
  for lights in weak bright; do
    for js in "$DATA/$lights/$part"/[0-9]*.json; do
      stem=${js%.json}; new=$(printf "%s/mix/%s/%06d" "$DATA" "$part" $i)
      for suf in .json _input.png _target.png _depth.png _depth_corrupt.png; do ln -s "$stem$suf" "$new$suf"; done
      i=$((i + 1))
    done
  done
done
echo "data: $((2 * COUNT)) samples in $(( $(date +%s) - t0 )) s" | tee -a "$OUT/env.txt"
# Decode the PNGs once (all cores) into the caches both runs read.
$PY -c "from train_lens import load_synth as l; l('$DATA/mix/train', workers=$(nproc)); l('$DATA/mix/val', workers=$(nproc))" 2>&1 | tail -1
echo "decoded at $(( $(date +%s) - t0 )) s" | tee -a "$OUT/env.txt"
# Two runs share the GPU (the model is small; one alone leaves it mostly idle): the two feature
# layouts of lens_net.VARIANTS, otherwise the same.  The better one on held-out data is kept.
# RUNS: the two side-by-side runs as "tag variant seed" (default: the layouts first compared; the
# next experiment is RUNS="a s23 0;b s15k 1", issue 18's finer slices against today's layout).
IFS=';' read -r -a runs <<<"${RUNS:-a s15 0;b s31 1}"
for spec in "${runs[@]}"; do
  read -r tag variant seed <<<"$spec"
  steps_var="STEPS_$tag"
  if [ -n "${!steps_var:-}" ]; then sched=(--steps "${!steps_var}"); else sched=(--time-budget "$BUDGET" --steps 100000); fi
  $PY train_lens.py --data "$DATA/mix/train" --val "$DATA/mix/val" --device "$DEVICE" --workers 8 \
    "${sched[@]}" --variant "$variant" --lr 5e-4 --batch "${BATCH:-32}" --crop 256 --full-share 0.5 --seed "$seed" \
    --tag "gpu_$tag" --ckpt "$OUT" --log-dir "$OUT" --ckpt-every 250 ${THINLENS:+--thinlens "$THINLENS"} >"$OUT/train_$tag.txt" 2>&1 &
done
wait
for spec in "${runs[@]}"; do read -r tag _ <<<"$spec"; tr '\r' '\n' <"$OUT/train_$tag.txt" | grep -v "it/s\]$" | tail -8; tail -3 "$OUT/lens_gpu_$tag.csv"; done
ls -la "$OUT"
