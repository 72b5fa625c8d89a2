#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) in build-fuzz and runs each for
# SECONDS (default 60). See docs/testing.md, "Fuzzing".
#
#   fuzz/run.sh [SECONDS]
#
# Each fuzzer starts from a copy of its committed corpus, build-fuzz/corpus/<name>/ (inputs it
# finds are added there, never to fuzz/corpus/), and writes crashing inputs to
# build-fuzz/crashes/<name>/ and its output to build-fuzz/logs/<name>.log. Prints the
# executions per target. Exits 1 when any fuzzer found a crash, leak, timeout or out-of-memory
# input; 2 when the build fails.
set -u -o pipefail

SECS=${1:-60}
if ! [[ $SECS =~ ^[0-9]+$ ]] || [ "$SECS" -lt 1 ]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-fuzz
TARGETS=(record_decode query import_rows api_sequence raw_file feed_decode)

echo "== configuring and building $BUILD (clang-14, ASan + UBSan + libFuzzer)"
CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCUSTDB_FUZZ=ON \
  -DCUSTDB_SANITIZE=ON -DCUSTDB_BUILD_TESTS=OFF >"$BUILD.configure.log" 2>&1 || {
  cat "$BUILD.configure.log" >&2
  echo "configure failed" >&2
  exit 2
}
rm -f "$BUILD.configure.log"
cmake --build "$BUILD" --target "${TARGETS[@]/#/fuzz_}" || {
  echo "build failed" >&2
  exit 2
}

# Scratch databases go to tmpfs when there is one; removed at exit.
SCRATCH=$(mktemp -d /dev/shm/custdb-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
export CUSTDB_FUZZ_TMP=$SCRATCH
# Symbolized reports; leaks are errors.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
declare -A EXECS RESULT
for t in "${TARGETS[@]}"; do
  corpus=$BUILD/corpus/$t
  crashes=$BUILD/crashes/$t
  log=$BUILD/logs/$t.log
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  cp "$ROOT/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  echo "== fuzz_$t for ${SECS}s (log: $log)"
  before=$(find "$crashes" -type f | wc -l)
  "$BUILD/bin/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1
  rc=$?
  after=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  EXECS[$t]=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | awk '{print $2}')
  if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
    RESULT[$t]="FAILED (exit $rc; inputs in $crashes)"
    status=1
    grep -m1 -E 'ERROR: |fuzz check failed|runtime error' "$log" || tail -5 "$log"
  else
    RESULT[$t]=ok
  fi
done

echo
echo "== executions in ${SECS}s per target"
for t in "${TARGETS[@]}"; do
  printf '%-14s %12s  %s\n' "$t" "${EXECS[$t]:-?}" "${RESULT[$t]}"
done
exit $status
