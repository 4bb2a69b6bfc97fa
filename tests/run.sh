#!/usr/bin/env bash
# Runs every unit test binary of $KRLLM_BUILD and every tests/scripts/test_*.sh; reports a summary.
# Each test runs from the repository root with a private temporary directory in $KRLLM_TMP.
set -u
cd "$(dirname "$0")/.."
BUILD=${KRLLM_BUILD:-build}
export KRLLM_BIN="$PWD/$BUILD/krllm"
export KRLLM_SHARED=${KRLLM_SHARED:-$PWD/../shared}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
filter=${1:-}
pass=0; fail=0; failed=""
run_one() {
  local name=$1; shift
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return
  local tmp; tmp=$(mktemp -d)
  local t0=$SECONDS
  if KRLLM_TMP=$tmp "$@" > "$tmp.log" 2>&1; then
    pass=$((pass+1)); printf 'PASS %-32s %3ds\n' "$name" $((SECONDS-t0))
  else
    fail=$((fail+1)); failed="$failed $name"; printf 'FAIL %-32s %3ds\n' "$name" $((SECONDS-t0))
    tail -40 "$tmp.log" | sed 's/^/    /'
  fi
  rm -rf "$tmp" "$tmp.log"
}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
for s in tests/scripts/test_*.sh; do
  [ -f "$s" ] && run_one "$(basename "$s")" bash "$s"
done
echo "$pass passed, $fail failed${failed:+:$failed}"
[ "$fail" -eq 0 ]
