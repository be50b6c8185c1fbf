#!/usr/bin/env bash
# `make run`: execs the C++ launcher (tools/local/launcher.h) built in BUILD_DIR (default: build).
# exec, so that SIGTERM/SIGINT reach the launcher itself and it stops everything in order.
set -euo pipefail
BUILD_DIR="${1:-build}"
exec "${BUILD_DIR}/tools/local/quoteflow-local" "${BUILD_DIR}"
