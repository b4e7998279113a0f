#!/bin/sh
# Whole-process time of the physical renderer (start-up, PNG decode, render, PNG encode) on each
# thin-lens scene, median of 5 runs, next to the Defocus node's render time from NAME.json.
# Build first: cargo build --release (BIN defaults to target/release/deeplens, run as the issue
# states it: deeplens image IN OUT --depth D.png --focus F --max-blur R --renderer physical).
set -e
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/deeplens}
DIR=$(dirname "$0")
for json in "$DIR"/*.json; do
  n=$(basename "$json" .json)
  set -- $(python3 -c "import json;m=json.load(open('$json'));print(m['focus'],m['max_blur'],m['defocus_node_seconds'])")
  focus=$1; blur=$2; defocus=$3
  times=""
  for i in 1 2 3 4 5; do
    s=$(date +%s%N)
    "$BIN" image "$DIR/${n}_input.png" "/tmp/deeplens_${n}_physical.png" -y --depth "$DIR/${n}_depth.png" --focus "$focus" --max-blur "$blur" --renderer physical
    e=$(date +%s%N)
    times="$times $(( (e - s) / 1000000 ))"
  done
  med=$(echo $times | tr ' ' '\n' | sort -n | sed -n 3p)
  echo "$n: whole process median ${med} ms (runs:$times) | Defocus node ${defocus} s | ratio $(python3 -c "print(round($defocus*1000/$med,1))")x"
done
