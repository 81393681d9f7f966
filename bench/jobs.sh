#!/usr/bin/env bash
# Benchmarks Chopin's job queue against a minimal queue written by hand on the same pool
# (INSERT; claim one row with FOR UPDATE SKIP LOCKED on PostgreSQL; UPDATE), on SQLite
# and on a throwaway PostgreSQL cluster, one process of WORKERS workers (see
# bench/jobs-bench/src/main.rs). PostgreSQL runs twice: on the fresh backlog, and with
# the tables analyzed first (as autovacuum leaves them about a minute later), since
# both queues' claim plans depend on the statistics. Prints each run, then the medians
# and ratios.
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
  for backend in sqlite postgres postgres-analyzed; do
    for queue in chopin loop; do
      name="r${round}_${queue}_${backend//-/_}"
      analyze=0
      [ "$backend" = postgres-analyzed ] && analyze=1
      if [ "$backend" = sqlite ]; then
        url="sqlite:$dir/$name.db"
      else
        "${run_as[@]}" "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -c "CREATE DATABASE $name" >/dev/null
        url="postgres://postgres@127.0.0.1:$port/$name"
      fi
      ANALYZE=$analyze "$bin" "$queue" "$url" | tee -a "$results"
    done
  done
done

mkdir -p target/bench
python3 - "$results" target/bench/jobs.svg <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
keys = [("enqueued_per_s", "enqueued/s"), ("completed_per_s", "completed/s"),
        ("start_p50_ms", "start p50 ms"), ("start_p99_ms", "start p99 ms")]
print()
print("| database | queue | " + " | ".join(label for _, label in keys) + " |")
print("|---|---|" + "---:|" * len(keys))
medians = {}
backends = ("sqlite", "postgres", "postgres, analyzed")
for backend in backends:
    for queue in ("loop", "chopin"):
        runs = [r for r in rows if r["backend"] == backend and r["queue"] == queue]
        m = {k: statistics.median(r[k] for r in runs) for k, _ in keys}
        medians[backend, queue] = m
        print(f"| {backend} | {queue} | " + " | ".join(f"{m[k]:,.0f}" if k.endswith("per_s") else f"{m[k]:.1f}" for k, _ in keys) + " |")
print()
for backend in backends:
    c, l = medians[backend, "chopin"], medians[backend, "loop"]
    print(f"{backend}: chopin/loop enqueued {c['enqueued_per_s'] / l['enqueued_per_s']:.2f}x, "
          f"completed {c['completed_per_s'] / l['completed_per_s']:.2f}x")

# A bar chart of the medians: jobs completed and enqueued per second.
bars, y = [], 40
top = max(m[k] for m in medians.values() for k in ("completed_per_s", "enqueued_per_s"))
for key, label in (("completed_per_s", "completed per second"), ("enqueued_per_s", "enqueued per second")):
    bars.append(f'<text x="10" y="{y + 12}" font-weight="bold">jobs {label}</text>')
    y += 22
    for backend in backends:
        for queue, fill in (("chopin", "#2f6fb3"), ("loop", "#b0b0b0")):
            value = medians[backend, queue][key]
            width = max(1, round(value * 560 / top))
            bars.append(f'<text x="262" y="{y + 12}" text-anchor="end">{backend}: {queue}</text>'
                        f'<rect x="270" y="{y}" width="{width}" height="16" fill="{fill}"/>'
                        f'<text x="{276 + width}" y="{y + 12}">{value:,.0f}</text>')
            y += 22
    y += 12
title = ('<text x="10" y="22" font-size="15" font-weight="bold">Chopin\'s job queue and a '
         'hand-written loop (bench/jobs.sh, medians; higher is better)</text>')
with open(sys.argv[2], "w") as out:
    out.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{y}" '
              f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" '
              f'fill="white"/>{title}{"".join(bars)}</svg>\n')
print(f"chart: {sys.argv[2]} (copy it to docs/img/jobs.svg to publish it)")
PY
