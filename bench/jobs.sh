#!/usr/bin/env bash
# Benchmarks Chopin's job queue against a minimal queue written by hand on the same pool
# (INSERT; claim one row with FOR UPDATE SKIP LOCKED on PostgreSQL; UPDATE), on SQLite
# and on a throwaway PostgreSQL cluster, one process of WORKERS workers (see
# bench/jobs-bench/src/main.rs). Prints each run, then the medians and ratios.
# Usage: bench/jobs.sh   (RUNS=5 rounds, JOBS=10000, WORKERS=8, LATENCY=200 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
export RUNS=${RUNS:-5} JOBS=${JOBS:-10000} WORKERS=${WORKERS:-8} LATENCY=${LATENCY:-200}

cargo build --release --locked -p bench-jobs
bin=target/release/bench-jobs

pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/chopin-bench-jobs.XXXXXX)
run_as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  run_as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${run_as[@]}" "$pg_bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
trap '"${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; rm -rf "$dir"' EXIT

results="$dir/results.jsonl"
for round in $(seq "$RUNS"); do
  for backend in sqlite postgres; do
    for queue in chopin loop; do
      name="r${round}_${queue}"
      if [ "$backend" = sqlite ]; then
        url="sqlite:$dir/$name.db"
      else
        "${run_as[@]}" "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -c "CREATE DATABASE $name" >/dev/null
        url="postgres://postgres@127.0.0.1:$port/$name"
      fi
      "$bin" "$queue" "$url" | tee -a "$results"
    done
  done
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
keys = [("enqueued_per_s", "enqueued/s"), ("completed_per_s", "completed/s"),
        ("start_p50_ms", "start p50 ms"), ("start_p99_ms", "start p99 ms")]
print()
print("| database | queue | " + " | ".join(label for _, label in keys) + " |")
print("|---|---|" + "---:|" * len(keys))
medians = {}
for backend in ("sqlite", "postgres"):
    for queue in ("loop", "chopin"):
        runs = [r for r in rows if r["backend"] == backend and r["queue"] == queue]
        m = {k: statistics.median(r[k] for r in runs) for k, _ in keys}
        medians[backend, queue] = m
        print(f"| {backend} | {queue} | " + " | ".join(f"{m[k]:,.0f}" if k.endswith("per_s") else f"{m[k]:.1f}" for k, _ in keys) + " |")
print()
for backend in ("sqlite", "postgres"):
    c, l = medians[backend, "chopin"], medians[backend, "loop"]
    print(f"{backend}: chopin/loop enqueued {c['enqueued_per_s'] / l['enqueued_per_s']:.2f}x, "
          f"completed {c['completed_per_s'] / l['completed_per_s']:.2f}x")
PY
