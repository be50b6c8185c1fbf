#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++ (ASan + UBSan, libFuzzer coverage) in a separate build
# directory and runs each for a bounded time, seeded with the checked-in corpus (read-only: new
# inputs go to the build directory). Prints one line per target:
#   FUZZ <target> PASS|FAIL execs=<n> exec/s=<n> new_units=<n> corpus=<dir>
# and exits non-zero if any target found a crash (its reproducer is under <build>/fuzz-artifacts;
# fix the bug, then copy the reproducer into tests/fuzz/corpus/<target>/ so the replay test keeps it).
#
# usage: tests/fuzz/run.sh [target...]        (default: every target)
# env:   FUZZ_SECONDS   seconds per target (default 20)
#        FUZZ_BUILD_DIR build directory (default <repo>/build-fuzz)
#        FUZZ_CXX       clang++ to use (default clang++)
#        FUZZ_JOBS      build parallelism (default nproc)
#        FUZZ_SEED      libFuzzer -seed (default: random); with FUZZ_RUNS the session is repeatable
#        FUZZ_RUNS      libFuzzer -runs: stop after this many inputs (default: only the time bound)
#        FUZZ_RUNS_<target>  -runs for that target only (e.g. FUZZ_RUNS_config_parse=20000)
# exit:  0 all passed, 1 a target failed or the build failed, 77 clang++ or its fuzzing runtime
#        (Debian: clang, libclang-rt-14-dev) is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
CXX=${FUZZ_CXX:-clang++}
JOBS=${FUZZ_JOBS:-$(nproc)}
ALL_TARGETS=(request_validation grpc_requests event_envelope config_parse kafka_properties
             redact_secrets command_envelope)
TARGETS=("$@")
if [ $# -eq 0 ]; then TARGETS=("${ALL_TARGETS[@]}"); fi

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "run.sh: $CXX not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 77
fi
RUNTIME_DIR=$("$CXX" -print-runtime-dir 2>/dev/null || true)
if [ ! -f "$RUNTIME_DIR/libclang_rt.fuzzer-$(uname -m).a" ]; then
  echo "run.sh: libFuzzer runtime missing in '$RUNTIME_DIR' (Debian: libclang-rt-14-dev)" >&2
  exit 77
fi

mkdir -p "$BUILD_DIR"
SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER="$CXX" -DQUOTEFLOW_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DCMAKE_CXX_FLAGS="$SANITIZE -fno-omit-frame-pointer" >"$BUILD_DIR/fuzz-configure.log" 2>&1 || {
  cat "$BUILD_DIR/fuzz-configure.log" >&2
  echo "run.sh: configuring $BUILD_DIR failed" >&2
  exit 1
}
build_targets=()
for t in "${TARGETS[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build "$BUILD_DIR" -j "$JOBS" "${build_targets[@]}" >"$BUILD_DIR/fuzz-build.log" 2>&1 || {
  tail -50 "$BUILD_DIR/fuzz-build.log" >&2
  echo "run.sh: building the fuzz targets failed (log: $BUILD_DIR/fuzz-build.log)" >&2
  exit 1
}

stat() {  # stat <name> <log>: a value of libFuzzer's -print_final_stats
  sed -n "s/^stat::$1: *//p" "$2" | tail -1
}

failed=0
for t in "${TARGETS[@]}"; do
  corpus="$BUILD_DIR/fuzz-corpus/$t"
  artifacts="$BUILD_DIR/fuzz-artifacts/$t/"
  log="$BUILD_DIR/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  dict=()
  if [ "$t" = event_envelope ] || [ "$t" = command_envelope ]; then
    dict=(-dict="$ROOT/tests/fuzz/json.dict")
  fi
  repeatable=()
  if [ -n "${FUZZ_SEED:-}" ]; then repeatable+=(-seed="$FUZZ_SEED"); fi
  runs_var="FUZZ_RUNS_$t"
  runs=${!runs_var:-${FUZZ_RUNS:-}}
  if [ -n "$runs" ]; then repeatable+=(-runs="$runs"); fi
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$BUILD_DIR/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" "${repeatable[@]}" \
    "$corpus" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  result=PASS
  if [ $rc -ne 0 ]; then
    result=FAIL
    failed=1
  fi
  echo "FUZZ $t $result execs=$(stat number_of_executed_units "$log")" \
    "exec/s=$(stat average_exec_per_sec "$log") new_units=$(stat new_units_added "$log")" \
    "seconds=$SECONDS_PER_TARGET corpus=$corpus"
  if [ $result = FAIL ]; then
    grep -E "ERROR|FUZZ PROPERTY|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
    echo "  full log: $log; reproducer under $artifacts" >&2
  fi
done
exit $failed
