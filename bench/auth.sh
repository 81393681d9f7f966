#!/usr/bin/env bash
# Benchmarks Chopin's database routes (GET /api/auth/me, a basic-api post read; both
# modes) against the same routes written by hand with axum, a typed SqlitePool and
# jsonwebtoken, in one run (see bench/auth.py).
# Usage: bench/auth.sh   (RUNS=40 rounds, DURATION=1 s per route, CONNECTIONS=64 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
cargo build --release --locked -p chopin-performance-mode -p chopin-basic-api -p bench-auth
RUNS=${RUNS:-40} DURATION=${DURATION:-1} exec python3 bench/auth.py "$@"
