#!/usr/bin/env bash
# The whole suite, stage by stage: prints each stage's time and a summary, runs every stage even
# after a failure (so one run shows everything that is broken) and exits non-zero if any failed.
#   tests/run-suite.sh [SCENARIO ...]     all stages, molecule for the given scenarios
#   tests/run-suite.sh --only lint        one stage
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=.venv/bin
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections" ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1

stage_lint() {
  "$BIN/yamllint" -s . &&
  "$BIN/ansible-lint" -q &&
  tests/sanity.sh &&
  tests/build-check.sh
}
stage_unit() { "$BIN/pytest" tests/unit -q -p no:cacheprovider; }
stage_integration() { "$BIN/pytest" tests/integration -q -p no:cacheprovider; }
stage_images() { "$BIN/python" tests/harness/harness.py all; }
# The image builds wait mostly on the network (npm, PyPI, Debian's mirror), so the full suite
# starts them in the background beside lint, unit and integration; the images stage then waits for
# them and shows their output.
start_images_in_background() {
  images_log=$(mktemp)
  stage_images >"$images_log" 2>&1 &
  images_pid=$!
}
stage_images_wait() {
  local rc=0
  wait "$images_pid" || rc=$?
  cat "$images_log"
  rm -f "$images_log"
  return "$rc"
}
stage_molecule() { "$BIN/molecule" test -s "$1"; }

names=() results=() times=()
run_stage() {
  local name=$1; shift
  local start=$SECONDS
  echo
  echo "==== stage $name: start $(date -u +%H:%M:%S)"
  if "$@"; then results+=(passed); else results+=(FAILED); fi
  names+=("$name") times+=($((SECONDS - start)))
  echo "==== stage $name: ${results[-1]} in ${times[-1]} s"
}

if [[ ${1:-} == --only ]]; then
  run_stage "$2" "stage_$2"
else
  start_images_in_background
  run_stage lint stage_lint
  run_stage unit stage_unit
  run_stage integration stage_integration
  run_stage images stage_images_wait
  for scenario in "$@"; do
    run_stage "molecule:$scenario" stage_molecule "$scenario"
  done
fi

echo
echo "==== summary (seconds)"
passed=0 failed=0 total=0
for i in "${!names[@]}"; do
  printf '%-28s %-7s %6d\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  total=$((total + times[i]))
  if [[ ${results[$i]} == passed ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
printf '%-28s %-7s %6d\n' total "" "$total"
echo "stages: $passed passed, $failed failed"
((failed == 0))
