#!/usr/bin/env bash
# Fuzz deeplens's parsers of user files with AFL++ (cargo-afl, stable Rust): focus tracks,
# presets, depth model cards (fuzz/src/bin/*.rs), from the committed corpora in fuzz/corpus.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     # each target for SECONDS (default: all targets)
#
# Installs cargo-afl and builds AFL++'s runtime when missing. Prints each target's executions
# and findings; exits 1 if any target crashed or hung (a machine AFL cannot run on is reported
# and skipped) (the inputs are left under
# $FUZZ_OUT, default /tmp/deeplens-fuzz, to turn into regression tests). CI runs a short pass.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(track preset card plan demux)
out=${FUZZ_OUT:-/tmp/deeplens-fuzz}

if ! cargo afl --version >/dev/null 2>&1; then
  cargo install --locked cargo-afl || { echo "fuzz: cannot install cargo-afl; skipped" >&2; exit 0; }
fi
# The AFL++ runtime for this rustc (built once per toolchain; an existing one is kept).
cargo afl config --build >/dev/null 2>&1 || true
(cd fuzz && cargo afl build --release) || { echo "fuzz: the targets did not build; skipped" >&2; exit 0; }

# No AFL_SKIP_BIN_CHECK: it also skips detecting the persistent-mode harness, and every input then times out.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
status=0
for t in "${targets[@]}"; do
  rm -rf "${out:?}/$t"
  mkdir -p "$out"
  # An input that runs longer than this is a hang. The demuxer's inputs are media files that FFmpeg
  # decodes (two frames of up to 8192×4608: 1.3 s for an H.264 pair here, more on a busy machine), so it gets more room.
  limit=${FUZZ_TIMEOUT_MS:-$([ "$t" = demux ] && echo 5000 || echo 2000)}
  cargo afl fuzz -i "fuzz/corpus/$t" -o "$out/$t" -V "$seconds" -t "$limit+" "fuzz/target/release/$t" >"$out/$t.log" 2>&1 || true
  stats="$out/$t/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    # A machine AFL cannot run on (no fork server, a kernel setting) is reported, not failed:
    # only findings fail the pass.
    echo "fuzz $t: AFL did not start (see $out/$t.log); skipped" >&2
    tail -5 "$out/$t.log" >&2
    continue
  fi
  execs=$(awk -F': *' '/^execs_done/ {print $2}' "$stats")
  crashes=$(awk -F': *' '/^saved_crashes/ {print $2}' "$stats")
  hangs=$(awk -F': *' '/^saved_hangs/ {print $2}' "$stats")
  paths=$(awk -F': *' '/^corpus_count/ {print $2}' "$stats")
  echo "fuzz $t: $execs executions in ${seconds} s, corpus $paths, crashes $crashes, hangs $hangs"
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    echo "fuzz $t: findings in $out/$t/default/crashes and hangs" >&2
    status=1
  fi
done
exit $status
