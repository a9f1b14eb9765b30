#!/usr/bin/env bash
# ci/test.sh — the whole test suite, from a fresh Debian 12 machine or a warm tree.
#
#   1. ci/setup.sh installs whatever Debian packages are missing;
#   2. builds the release and the sanitizer (ASan + UBSan) configurations, and the fuzz one;
#   3. runs, with fixed seeds:
#        release: unit, props, proofs (every obligation by Z3, every exported file by cvc5),
#                 replay (the shipped real-kernel runs, ../shared/data/linux-trace)
#        asan:    unit, props, smoke (a small proof subset; Z3 and cvc5 are not instrumented,
#                 so the bounded proofs' mutation tests count as proofs there), replay
#        fuzz:    fuzz                (bounded libFuzzer runs of the machine, the trace parser
#                                      and the replay engine)
#   and prints the time each label took. Each label's tests run in parallel (ctest -j, one job
#   per core; the long ones are split into gtest shards). The sanitizer build compiles the code
#   under test (model/, impl/) at -O1 and runs a quarter of each property's cases
#   (MMREF_CASES_DIVISOR=4); the release build runs all. Exits non-zero if anything failed.
#
# MMREF_SEED=N overrides the RapidCheck and differential seeds (`mmref props --seed random`
# is the command for random seeds).
set -uo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh || { echo "ci/test.sh: package setup failed" >&2; exit 2; }
jobs=$(nproc)

build() {
  local preset=$1 t0=$SECONDS
  cmake --preset "$preset" > "build-$preset.log" 2>&1 &&
    cmake --build --preset "$preset" -j "$jobs" >> "build-$preset.log" 2>&1
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -40 "build-$preset.log"
    echo "ci/test.sh: build of '$preset' failed (log: build-$preset.log)" >&2
  fi
  echo "build $preset: $((SECONDS - t0))s"
  return $rc
}

passed=0 failed=0
timings=()
run_label() {
  local preset=$1 label=$2 t0=$SECONDS out
  out=$(ctest --preset "$preset" -L "^${label}\$" -j "$jobs" --output-on-failure 2>&1)
  local rc=$?
  echo "$out" | tail -n 60
  local line p f
  line=$(echo "$out" | grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' | tail -1)
  if [[ $label == replay ]] && echo "$out" | grep -q 'No tests were found'; then
    # The replay tests exist only when ../shared/data/linux-trace is beside the clone.
    timings+=("$(printf '%-8s %-7s %4ds  %s' "$preset" "$label" $((SECONDS - t0)) "skipped: no ../shared/data/linux-trace")")
    return
  fi
  if [[ -n $line ]]; then
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    p=$(( $(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/') - f ))
  else
    p=0 f=1
  fi
  [[ $rc -ne 0 && $f -eq 0 ]] && f=1
  passed=$((passed + p)) failed=$((failed + f))
  timings+=("$(printf '%-8s %-7s %4ds  %s' "$preset" "$label" $((SECONDS - t0)) "$([[ $f -eq 0 ]] && echo ok || echo FAILED)")")
}

build release || exit 1
run_label release unit
run_label release props
run_label release proofs
run_label release replay

build asan || exit 1
run_label asan unit
MMREF_CASES_DIVISOR=4 run_label asan props
run_label asan smoke
run_label asan replay

build fuzz || exit 1
run_label fuzz fuzz

echo
echo "time per label:"
printf '  %s\n' "${timings[@]}"
echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
