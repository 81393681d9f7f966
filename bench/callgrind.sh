#!/usr/bin/env bash
# Instructions per request, counted by callgrind: repeatable on a noisy machine where
# wall-clock numbers are not. Builds with symbols into target/profiling.
# Usage: bench/callgrind.sh [path] [VAR=value ...]   e.g. bench/callgrind.sh /json SERVER_MODE=performance
#        BINARY=bench-hyper bench/callgrind.sh /
#        PIPELINE=16 bench/callgrind.sh /json SERVER_MODE=performance   (16-deep pipelining)
#        HEADER="Authorization: Bearer $TOKEN" bench/callgrind.sh /api/auth/me DATABASE_URL=...
#        WARMUP=1 ...   (counts start only after a 2 s warm-up: start-up and first queries excluded)
set -euo pipefail
cd "$(dirname "$0")/.."

path=${1:-/}
shift || true
binary=${BINARY:-chopin-performance-mode}
port=${BENCH_PORT:-3997}
for tool in wrk valgrind; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool"; }
done

CARGO_TARGET_DIR=target/profiling CARGO_PROFILE_RELEASE_STRIP=false \
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --locked -q -p "$binary"

out=$(mktemp /tmp/callgrind.XXXXXX)
env -i PATH="$PATH" PORT="$port" SERVER_PORT="$port" SERVER_WORKERS=1 "$@" \
  valgrind --tool=callgrind --callgrind-out-file="$out" \
  "target/profiling/release/$binary" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
pipeline=()
[ -n "${HEADER:-}" ] && pipeline=(-H "$HEADER")
[ -n "${PIPELINE:-}" ] && pipeline+=(-s bench/pipeline.lua "http://127.0.0.1:$port$path" -- "$PIPELINE")
[ -n "${PIPELINE:-}" ] || pipeline+=("http://127.0.0.1:$port$path")
if [ -n "${WARMUP:-}" ]; then
  wrk -t1 -c16 -d2s "${pipeline[@]}" >/dev/null
  callgrind_control -z "$server" >/dev/null
fi
requests=$(wrk -t1 -c16 -d6s "${pipeline[@]}" | awk '/requests in/ {print $1}')
kill -TERM "$server"
wait "$server" || true
total=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
echo "$binary $path ${PIPELINE:+pipelined x$PIPELINE }$*: $requests requests, $((total / requests)) instructions per request (profile: $out)"
