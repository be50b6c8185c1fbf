#!/usr/bin/env bash
# Builds the Debezium peer (pom.xml here) into $QUOTEFLOW_CACHE_DIR/debezium: peers.jar (the
# embedded-engine main) and libs/ (Debezium 3.6.1.Final, Kafka Connect 4.1, their dependencies).
#   tests/bench/peers/build.sh [--offline]
# scripts/install-deps.sh runs it online; run_benchmarks.sh runs it with --offline (Maven's local
# repository then already holds everything). Skipped when the pom and sources are unchanged.
set -euo pipefail
cd "$(dirname "$0")"
CACHE_DIR="${QUOTEFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quoteflow}"
out="$CACHE_DIR/debezium"
offline=()
[[ "${1:-}" == "--offline" ]] && offline=(-o)
sum="$(cat pom.xml $(find src -type f | sort) | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$out/src.sha256" 2>/dev/null)" == "$sum" && -f "$out/peers.jar" ]]; then
  exit 0
fi
echo "peers/build.sh: building the Debezium peer into $out"
rm -rf "$out/libs" "$out/build"
mkdir -p "$out"
if ! mvn -B -q "${offline[@]}" -Dpeers.build.dir="$out/build" package dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$out/libs" >"$out/mvn.log" 2>&1; then
  echo "peers/build.sh: Maven failed; see $out/mvn.log:" >&2
  grep -E 'ERROR|Could not' "$out/mvn.log" | head -8 >&2
  exit 1
fi
cp "$out/build/peers.jar" "$out/peers.jar"
echo "$sum" >"$out/src.sha256"
