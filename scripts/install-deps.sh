#!/usr/bin/env bash
# Installs every Debian bookworm package quoteflow needs to build, test and run locally.
# Idempotent: packages already installed are skipped, so a second run does no network I/O.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librdkafka-dev libpqxx-dev libpq-dev libabsl-dev
  googletest libgtest-dev libgmock-dev
  postgresql postgresql-client postgresql-contrib
  kcat util-linux procps
  python3-grpcio python3-protobuf
  libcpp-httplib-dev yamllint openssl
  clang libclang-rt-14-dev
  docker-compose
)
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
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
