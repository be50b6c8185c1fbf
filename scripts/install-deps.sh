#!/usr/bin/env bash
# Installs everything quoteflow needs to build, test and run locally:
#   - Debian bookworm packages (apt);
#   - Apache Kafka 4.1's jars from Maven Central (tools/kafka/pom.xml), into
#     $QUOTEFLOW_CACHE_DIR/kafka/libs (default ~/.cache/quoteflow), where LocalKafka finds them;
#   - the real grpcurl from the Go module proxy (when a Go >= 1.21 is on PATH), into
#     $QUOTEFLOW_CACHE_DIR/bin, which `make run` puts on local.env's PATH;
#   - the Debezium peer of the benchmarks (tests/bench/peers: Debezium 3.6.1.Final, Kafka Connect
#     4.1) from Maven Central, built into $QUOTEFLOW_CACHE_DIR/debezium, so `make bench` runs offline;
#   - kafkajs from the npm registry (an independent client for the end-to-end tests), into
#     $QUOTEFLOW_CACHE_DIR/node.
# Idempotent: what is already there is skipped, so a second run does no network I/O.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR="${QUOTEFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quoteflow}"

PACKAGES=(
  build-essential cmake pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librdkafka-dev libpqxx-dev libpq-dev libabsl-dev
  googletest libgtest-dev libgmock-dev
  postgresql postgresql-client postgresql-contrib
  kcat util-linux procps curl
  iproute2 nftables
  python3-grpcio python3-protobuf python3-matplotlib
  libcpp-httplib-dev yamllint openssl
  clang libclang-rt-14-dev
  docker-compose prometheus
)
# Java runs the Kafka broker, Maven resolves its jars, Node.js runs kafkajs: Debian's, unless the
# machine already has its own on PATH.
command -v java >/dev/null 2>&1 || PACKAGES+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || PACKAGES+=(maven)
# The Debezium peer of the benchmarks (tests/bench/peers) compiles one Java class: a JDK's javac.
command -v javac >/dev/null 2>&1 || PACKAGES+=(openjdk-17-jdk-headless)
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
# deploy/validate.py renders the Kubernetes manifests with `kubectl kustomize`: Debian's
# kubernetes-client (kubectl 1.20), unless a kubectl is already on PATH (another kubectl package
# owns /usr/bin/kubectl too, and dpkg would refuse to overwrite it).
if ! command -v kubectl >/dev/null 2>&1; then
  PACKAGES+=(kubernetes-client)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Apache Kafka: the jars of tools/kafka/pom.xml, fetched again only when the pom changes.
kafka_dir="$CACHE_DIR/kafka"
pom_sum="$(sha256sum tools/kafka/pom.xml | cut -d' ' -f1)"
if [ "$(cat "$kafka_dir/pom.sha256" 2>/dev/null)" != "$pom_sum" ]; then
  echo "install-deps: resolving Apache Kafka from Maven Central into $kafka_dir/libs"
  rm -rf "$kafka_dir/libs"
  mkdir -p "$kafka_dir"
  if ! mvn -B -q -f tools/kafka/pom.xml dependency:copy-dependencies \
      -DoutputDirectory="$kafka_dir/libs" >"$kafka_dir/mvn.log" 2>&1; then
    echo "install-deps: Maven could not resolve tools/kafka/pom.xml (Apache Kafka); see $kafka_dir/mvn.log:" >&2
    grep -E 'ERROR|Could not' "$kafka_dir/mvn.log" | head -5 >&2
    exit 1
  fi
  echo "$pom_sum" >"$kafka_dir/pom.sha256"
fi

# The Debezium peer of `make bench` (quoteflow-bench debezium): its jars and its embedded-engine
# main; rebuilt only when tests/bench/peers changes.
QUOTEFLOW_CACHE_DIR="$CACHE_DIR" bash tests/bench/peers/build.sh

# The real grpcurl. Debian bookworm's own Go (1.19) is too old for it; without a Go >= 1.21 the
# README's walkthrough uses tools/grpcurl (a Python stand-in with the same flags) instead.
GRPCURL_VERSION=v1.9.3
if command -v go >/dev/null 2>&1; then
  go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
  if [ "${go_minor:-0}" -ge 21 ] 2>/dev/null; then
    # A `go install`ed grpcurl prints no version of its own; its build info names the module's.
    if ! go version -m "$CACHE_DIR/bin/grpcurl" 2>/dev/null |
        grep -qE "^\s+mod\s+github.com/fullstorydev/grpcurl\s+$GRPCURL_VERSION\b"; then
      echo "install-deps: go install grpcurl@$GRPCURL_VERSION into $CACHE_DIR/bin"
      mkdir -p "$CACHE_DIR/bin"
      GOBIN="$CACHE_DIR/bin" GOFLAGS=-mod=mod go install \
        "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
    fi
  fi
fi

# kafkajs, an independent Kafka client for the end-to-end tests.
KAFKAJS_VERSION=2.2.4
if [ ! -f "$CACHE_DIR/node/node_modules/kafkajs/package.json" ] ||
   ! grep -q "\"version\": \"$KAFKAJS_VERSION\"" "$CACHE_DIR/node/node_modules/kafkajs/package.json"; then
  echo "install-deps: npm install kafkajs@$KAFKAJS_VERSION into $CACHE_DIR/node"
  mkdir -p "$CACHE_DIR/node"
  npm install --silent --no-audit --no-fund --prefix "$CACHE_DIR/node" "kafkajs@$KAFKAJS_VERSION" >/dev/null
fi
