#!/usr/bin/env bash
# The whole suite: prints each stage's output and time as it finishes and a summary, runs every stage
# even after a failure (so one run shows everything that is broken) and exits non-zero if any failed.
#   tests/run-suite.sh [SCENARIO ...]     all stages, molecule for the given scenarios
#   tests/run-suite.sh --only lint        one stage (lint, unit, integration or molecule:<scenario>)
# SUITE_JOBS (default 2) stages run side by side. One molecule scenario keeps about one core busy
# (a module run is a Python start and an import in the instance, not a wait on the connection), so
# on CI's 2 cores two lanes nearly halve the suite; 1 runs the stages one after another.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=.venv/bin
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections" ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
SUITE_JOBS=${SUITE_JOBS:-2}

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
stage_molecule() { "$BIN/molecule" test -s "$1"; }

# Stages start in this order, longest first (times of a warm run, README), so the lanes end together;
# scenarios not listed start last. A stage starts when a lane is free and the images it needs are built.
STAGE_ORDER=(molecule:data molecule:n8n_queue molecule:apps molecule:hardening integration lint
  molecule:reverse_proxy unit molecule:compute_cpu molecule:docker)
# The images it needs: the `late` images of tests/harness/images.yml (n8n, Open WebUI, Flowise: minutes
# of npm and pip installs on a fresh machine) are built after the others, while the first stages run; n8n
# first, so that n8n_queue starts while the other two build.
images_needed() {
  case $1 in
    lint | unit | integration) echo none ;;
    molecule:n8n_queue) echo n8n ;;
    molecule:apps) echo late ;;
    molecule:*) echo early ;;
  esac
}

work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT
names=() results=() times=()

record() {  # name rc seconds log
  if (($2 == 0)); then results+=(passed); else results+=(FAILED); fi
  names+=("$1") times+=("$3")
  echo
  echo "==== stage $1: output"
  cat "$4"
  echo "==== stage $1: ${results[-1]} in $3 s"
}

# A stage's output goes to a log, its exit status and seconds to <name>.done.
run_logged() {  # name command...
  local file=${1//:/_} start rc
  shift
  start=$(date +%s)
  "$@" >"$work_dir/$file.log" 2>&1
  rc=$?
  echo "$rc $(($(date +%s) - start))" >"$work_dir/$file.done.tmp"
  mv "$work_dir/$file.done.tmp" "$work_dir/$file.done"
}
start_stage() {  # name command...
  echo "==== stage $1: start $(date -u +%H:%M:%S)"
  run_logged "$@" &
}
start_named() {  # stage: lint, unit, integration or molecule:<scenario>
  case $1 in molecule:*) start_stage "$1" stage_molecule "${1#molecule:}" ;; *) start_stage "$1" "stage_$1" ;; esac
}
without() {  # stage array-elements...: the elements other than stage
  local drop=$1 stage
  shift
  for stage in "$@"; do [[ $stage == "$drop" ]] || printf '%s\n' "$stage"; done
}
finished() { [[ -e $work_dir/${1//:/_}.done ]]; }
report() {  # name
  local file=${1//:/_} rc seconds
  read -r rc seconds <"$work_dir/$file.done"
  record "$1" "$rc" "$seconds" "$work_dir/$file.log"
}

images_built() { [[ $1 == none ]] || finished "images:$1"; }
start_images() {  # with-late | without-late
  echo "==== stage images: start $(date -u +%H:%M:%S)"
  (
    run_logged images:early "$BIN/python" tests/harness/harness.py all --late skip
    # After the early images: both builds at once would fight over the network and the two cores.
    if [[ $1 == with-late ]]; then
      run_logged images:n8n "$BIN/python" tests/harness/harness.py services --late only --only n8n
      run_logged images:late "$BIN/python" tests/harness/harness.py services --late only
    fi
  ) &
}

if [[ ${1:-} == --only ]]; then
  start_named "$2"
  wait
  report "$2"
else
  scenarios=" $* " pending=() running=() late=without-late
  for stage in "${STAGE_ORDER[@]}" lint unit integration $(printf 'molecule:%s ' "$@"); do
    case $stage in molecule:*) [[ $scenarios == *" ${stage#molecule:} "* ]] || continue ;; esac
    [[ " ${pending[*]} " == *" $stage "* ]] || pending+=("$stage")
    [[ $(images_needed "$stage") == late ]] && late=with-late
  done
  suite_start=$SECONDS
  # Before any stage makes a network: the engine up, and the NAT rules that a killed engine left removed.
  "$BIN/python" tests/harness/harness.py engine || exit 1
  start_images "$late"
  image_stages=(images:early)
  [[ $late == with-late ]] && image_stages+=(images:n8n images:late)
  # Cached images check in about a second: let the longest scenarios have the first lanes then.
  for _ in {1..15}; do
    finished "${image_stages[-1]}" && break
    sleep 1
  done
  while ((${#pending[@]} + ${#running[@]} + ${#image_stages[@]} > 0)); do
    for stage in "${image_stages[@]}"; do
      if finished "$stage"; then
        report "$stage"
        mapfile -t image_stages < <(without "$stage" "${image_stages[@]}")
      fi
    done
    for stage in "${running[@]}"; do
      if finished "$stage"; then
        report "$stage"
        mapfile -t running < <(without "$stage" "${running[@]}")
      fi
    done
    for stage in "${pending[@]}"; do
      ((${#running[@]} < SUITE_JOBS)) || break
      images_built "$(images_needed "$stage")" || continue
      start_named "$stage"
      running+=("$stage")
      mapfile -t pending < <(without "$stage" "${pending[@]}")
    done
    sleep 2
  done
  wait
fi

echo
echo "==== summary (seconds, in the order the stages ended)"
passed=0 failed=0
for i in "${!names[@]}"; do
  printf '%-28s %-7s %6d\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  if [[ ${results[$i]} == passed ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
[[ ${1:-} == --only ]] || printf "%-28s %-7s %6d\n" "suite ($SUITE_JOBS at a time)" "" $((SECONDS - suite_start))
# CI keeps only the end of the output: repeat why each failed stage failed (the failing lines, each
# after the task or test it belongs to) below the summary, where it survives.
for i in "${!names[@]}"; do
  [[ ${results[$i]} == passed ]] && continue
  echo
  echo "==== why ${names[$i]} failed (the last failing lines of its output above)"
  log="$work_dir/${names[$i]//:/_}.log"
  # A failed task's message follows its `fatal:` line, indented: up to 15 of those lines come with it.
  # (Molecule's CRITICAL about the missing default scenario is printed by every scenario, and harmless.)
  why=$(awk '/^CRITICAL .molecule\/default\/molecule.yml. glob failed/ { next }
    /^(TASK|PLAY|RUNNING HANDLER) \[|^_+ .* _+$|^INFO +\[/ { header = $0; more = 0; next }
    more > 0 && /^[ \t]/ { print substr($0, 1, 300); more--; next }
    { more = 0 }
    /^fatal:|FAILED!|^ERROR|^CRITICAL|^E +|Error:|^FAILED [^-]/ {
      if (header != shown) { print header; shown = header }
      print substr($0, 1, 2000)
      if (/FAILED! =>/) more = 15
    }' "$log" | tail -n 60)
  if [[ -n $why ]]; then echo "$why"; else tail -n 15 "$log"; fi
done
echo "stages: $passed passed, $failed failed"
((failed == 0))
