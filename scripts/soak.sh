#!/usr/bin/env bash
# Soak: run a deeplens command for MINUTES on an endless source, sample its resident memory
# (VmRSS) once a minute, then stop it with Ctrl-C (SIGINT) and say whether memory stayed flat.
#
#   scripts/soak.sh MINUTES NAME -- deeplens ARGS...
#
# Prints one line per sample ("NAME minute K rss_mib R"), then "NAME flat: yes|no (spread S %
# of the median after minute 2)". Memory is flat when every sample from minute 2 on is within
# 5 % of their median (the first minutes hold start-up and the first frames' allocations).
set -euo pipefail
minutes=$1
name=$2
shift 3
"$@" &
pid=$!
samples=()
for ((k = 1; k <= minutes; k++)); do
  sleep 60
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$name: ended by itself after $((k - 1)) minutes" >&2
    wait "$pid"
    exit 1
  fi
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
  samples+=("$rss")
  echo "$name minute $k rss_mib $rss"
done
kill -INT "$pid"
set +e
wait "$pid"
code=$?
set -e
python3 - "$name" "$code" "${samples[@]}" <<'EOF'
import statistics, sys
name, code, xs = sys.argv[1], int(sys.argv[2]), [float(v) for v in sys.argv[3:]]
tail = xs[1:] if len(xs) > 2 else xs
med = statistics.median(tail)
spread = max(abs(v - med) for v in tail) / med * 100
print(f"{name} flat: {'yes' if spread <= 5 else 'no'} (spread {spread:.1f} % of the median {med:.1f} MiB after minute 2; exit {code})")
EOF
