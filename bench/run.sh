#!/usr/bin/env bash
# Benchmarks Chopin against plain hyper, plain axum::serve (Nagle on and with
# TCP_NODELAY), axum::serve with the tower-http stack matching Chopin's defaults and
# may-minihttp in one run.
# Usage: bench/run.sh            (RUNS=3 DURATION=5 CONNECTIONS=64 by default)
# Not part of CI: it needs two quiet cores and takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "bench/run.sh needs two cores: one for the server, one for wrk" >&2
  exit 1
fi

cargo build --release --locked -p chopin-performance-mode -p bench-hyper -p bench-axum \
  -p bench-axum-stack -p bench-may-minihttp
mkdir -p target/bench
python3 bench/run.py "$@" | tee target/bench/latest.md
python3 bench/chart.py target/bench/latest.md target/bench/latest.svg
echo "chart: target/bench/latest.svg (copy it to docs/img/bench.svg to publish it)"
