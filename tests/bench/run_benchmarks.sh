#!/usr/bin/env bash
# Runs every quoteflow benchmark (docs/performance.md) and ends with their RATIO lines.
#   tests/bench/run_benchmarks.sh BUILD_DIR [full|tiny]
# full: sizes that fit this 2-core machine in under 15 minutes; tiny: a smoke run whose times
# mean nothing. Extra quoteflow-bench flags can be passed in BENCH_FLAGS.
set -euo pipefail
build_dir="${1:-build}"
size="${2:-full}"
bench="$build_dir/tests/bench/quoteflow-bench"
log="$build_dir/bench-$(date +%Y%m%d-%H%M%S).log"
sizes=()
if [[ "$size" == "full" ]]; then
  sizes=(--rows=500000 --scale-rows=100000 --api-duration=8s --latency-duration=15s
         --saga-duration=15s --saga-backlog=3000
         --peer-rows=100000 --peer-rate=200 --peer-duration=15s)
fi
# The Debezium peer's jars (scripts/install-deps.sh fetched them): rebuilt offline when
# tests/bench/peers changed since.
bash "$(dirname "$0")/peers/build.sh" --offline
echo "quoteflow benchmarks ($size), $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$bench" all --size="$size" "${sizes[@]}" ${BENCH_FLAGS:-} 2>/dev/null | tee "$log" || status=$?
echo
echo "== summary (full output in $log)"
grep -E '^(RATIO|BENCH-ERROR)' "$log" || true
# The plots of docs/performance.md, from this run's CDF and POINT lines.
/usr/bin/python3 "$(dirname "$0")/plot_bench.py" "$log" "$build_dir/bench-plots" || status=1
exit "$status"
