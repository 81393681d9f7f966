#!/usr/bin/env bash
# Measures what single choices buy, next to the default build and the baselines in one
# run: the example built without mimalloc, built with panic = "abort", and run without
# the header-read timeout.
# Usage: bench/variants.sh   (RUNS, DURATION, CONNECTIONS as for run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi

cargo build --release --locked -p chopin-performance-mode -p bench-hyper -p bench-axum -p bench-axum-stack \
  -p bench-may-minihttp
CARGO_TARGET_DIR=target/variant-system-alloc \
  cargo build --release --locked -p chopin-performance-mode --no-default-features
CARGO_TARGET_DIR=target/variant-panic-abort CARGO_PROFILE_RELEASE_PANIC=abort \
  cargo build --release --locked -p chopin-performance-mode

VARIANTS="system allocator=target/variant-system-alloc/release/chopin-performance-mode"
VARIANTS+=",panic abort=target/variant-panic-abort/release/chopin-performance-mode"
VARIANTS+=",no header-read timeout=target/release/chopin-performance-mode|HEADER_READ_TIMEOUT_SECS=0"
export VARIANTS
exec python3 bench/run.py "$@"
