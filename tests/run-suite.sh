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
  "$BIN/ruff" check . &&
  "$BIN/ruff" format --check . &&
  "$BIN/ansible-lint" -q &&
  tests/sanity.sh &&
  tests/build-check.sh
}
stage_unit() { "$BIN/pytest" tests/unit -q -p no:cacheprovider; }
stage_integration() { "$BIN/pytest" tests/integration -q -p no:cacheprovider; }
stage_images() { "$BIN/python" tests/harness/harness.py all; }
stage_molecule() { "$BIN/molecule" test -s "$1"; }

# The image builds wait mostly on the network (npm, PyPI, Debian's mirror), so the full suite
# starts them in the background beside lint, unit and integration. The `late` images of
# tests/harness/images.yml (n8n, Open WebUI, Flowise: minutes of npm and pip installs) are built while the scenarios that do
# not need them run; those that do (below) run last, after the stage images:late.
SCENARIOS_NEEDING_LATE_IMAGES=" apps n8n_queue "
start_images_in_background() {
  images_dir=$(mktemp -d)
  (
    "$BIN/python" tests/harness/harness.py all --late skip >"$images_dir/early.log" 2>&1
    echo $? >"$images_dir/early.rc"
    if [[ $1 == with-late ]]; then
      "$BIN/python" tests/harness/harness.py services --late only >"$images_dir/late.log" 2>&1
      echo $? >"$images_dir/late.rc"
    fi
  ) &
  images_pid=$!
}
wait_for_images() {  # early | late
  while [[ ! -e $images_dir/$1.rc ]]; do sleep 2; done
  cat "$images_dir/$1.log"
  return "$(cat "$images_dir/$1.rc")"
}

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
  early=() late=()
  for scenario in "$@"; do
    if [[ $SCENARIOS_NEEDING_LATE_IMAGES == *" $scenario "* ]]; then
      late+=("$scenario")
    else
      early+=("$scenario")
    fi
  done
  start_images_in_background "$( ((${#late[@]} > 0)) && echo with-late || echo without-late)"
  run_stage lint stage_lint
  run_stage unit stage_unit
  run_stage integration stage_integration
  run_stage images wait_for_images early
  for scenario in "${early[@]}"; do
    run_stage "molecule:$scenario" stage_molecule "$scenario"
  done
  if ((${#late[@]} > 0)); then
    run_stage images:late wait_for_images late
    for scenario in "${late[@]}"; do
      run_stage "molecule:$scenario" stage_molecule "$scenario"
    done
  fi
  wait "$images_pid"
  rm -rf "$images_dir"
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
