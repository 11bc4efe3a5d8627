#!/usr/bin/env bash
# Runs every benchmark in benchmarks/ (each prints its own figures, measured side by side in one
# run) and keeps a copy of the output in .cache/bench-<date>.log for the README.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
log=".cache/bench-$(date -u +%Y%m%dT%H%M%SZ).log"
shopt -s nullglob
benches=(benchmarks/*_bench.py)
if ((${#benches[@]} == 0)); then
  echo "bench: no benchmarks/*_bench.py yet" | tee "$log"
  exit 0
fi
# Every benchmark runs even when one misses a target; the run fails at the end, naming them.
missed=()
for bench in "${benches[@]}"; do
  echo "==== $bench" | tee -a "$log"
  .venv/bin/python "$bench" 2>&1 | tee -a "$log" || missed+=("$bench")
done
echo "bench: figures kept in $log"
if ((${#missed[@]})); then
  echo "bench: failed or missed a target: ${missed[*]}" | tee -a "$log"
  exit 1
fi
