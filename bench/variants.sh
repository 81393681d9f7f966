#!/usr/bin/env bash
# Measures what single choices buy: the example built without mimalloc and with
# panic = "abort", next to the default build and the baselines, in one run.
# Usage: bench/variants.sh   (RUNS, DURATION, CONNECTIONS as for run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi

cargo build --release --locked -p chopin-performance-mode -p bench-hyper -p bench-axum
CARGO_TARGET_DIR=target/variant-system-alloc \
  cargo build --release --locked -p chopin-performance-mode --no-default-features
CARGO_TARGET_DIR=target/variant-panic-abort CARGO_PROFILE_RELEASE_PANIC=abort \
  cargo build --release --locked -p chopin-performance-mode

VARIANTS="system allocator=target/variant-system-alloc/release/chopin-performance-mode"
VARIANTS+=",panic=abort=target/variant-panic-abort/release/chopin-performance-mode"
export VARIANTS
exec python3 bench/run.py "$@"
