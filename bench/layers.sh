#!/usr/bin/env bash
# Where a request's instructions go, layer by layer (kernel boundary, tokio, hyper, Chopin's
# service and middleware, axum's routing, the handler), as a markdown table.
#
# Runs bench/callgrind.sh with the same arguments, with WARMUP=1 (start-up excluded; set
# WARMUP= to keep it) and valgrind's --dump-instr=yes, then bench/layers.py charges every
# instruction to one layer: the innermost layer in its inline chain (addr2line -i, so code
# inlined across layers is still told apart) or, failing that, in its function's name;
# code of no layer (allocator, memcpy, HeaderMap, drop glue, tower's Either) goes to the
# layer it was called from, split among several callers in proportion to the cost of each
# call. That is the "self of layer" column. The layers nest as the table indents them
# (request id around the timeout, around the panic guard, ..., around the handler), and
# the inclusive column is a layer's self plus that of every layer nested in it, e.g.
# request id's is what the request id layer and everything inside it cost. Inclusive
# costs are summed from the self costs rather than read from callgrind's inclusive
# counts, because those are per function: most layers are inlined into their caller and
# each layer's work is split between its `call` and its future's `poll`.
#
# Usage: bench/layers.sh [path] [VAR=value ...]    (as bench/callgrind.sh)
#        BINARY=bench-axum bench/layers.sh / NODELAY=1
#        CALLGRIND=/tmp/other-checkout/bench/callgrind.sh bench/layers.sh / SERVER_MODE=standard
#        PROFILE=/tmp/callgrind.XXXXXX REQUESTS=40969 bench/layers.sh   (an existing profile)
#        TOP=10 bench/layers.sh ...   (also the functions each layer's instructions ran in)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
path=${1:-/}
shift || true
if [ -z "${PROFILE:-}" ]; then
  result=$(WARMUP=${WARMUP-1} bash "${CALLGRIND:-$here/callgrind.sh}" "$path" "$@" \
    VALGRIND_OPTS=--dump-instr=yes | tail -1)
  echo "$result"
  REQUESTS=$(sed -E 's/.*: ([0-9]+) requests.*/\1/' <<<"$result")
  PROFILE=$(sed -E 's/.*\(profile: (.*)\)$/\1/' <<<"$result")
fi
python3 "$here/layers.py" "$PROFILE" "${REQUESTS:?REQUESTS: the request count of the run that wrote PROFILE}"
