"""Benchmarks a database route: `GET /api/auth/me` (token check and one user lookup,
SQLite, one core) on Chopin in both modes against the same route written by hand with
axum, a typed SqlitePool and jsonwebtoken (`bench-auth`), in one run.

Chopin creates the database and the user (signup), then each server reads the same
file with the same secret and token. Keep-alive only: wrk -t1 -c64, server on core 0,
wrk on core 1; medians of RUNS passes of DURATION seconds, as bench/run.py.
Usage: bench/auth.sh (builds, then runs this).
"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import run  # noqa: E402  (the shared wrk and /proc helpers)

SECRET = "bench-secret-bench-secret-bench-secret!"


def signup(database_url):
    env = {"PATH": os.environ.get("PATH", ""), "SERVER_PORT": str(run.PORT),
           "DATABASE_URL": database_url, "JWT_SECRET": SECRET}
    server = run.subprocess.Popen([run.EXAMPLE], env=env, stdout=run.subprocess.DEVNULL,
                                  stderr=run.subprocess.DEVNULL)
    try:
        run.wait_for_port(run.PORT)
        body = json.dumps({"email": "bench@example.com", "username": "bench",
                           "password": "correct horse battery"}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{run.PORT}/api/auth/signup", data=body,
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]
    finally:
        server.send_signal(run.signal.SIGTERM)
        server.wait(timeout=15)


def main():
    workdir = tempfile.mkdtemp(prefix="chopin-bench-auth-")
    database_url = f"sqlite:{workdir}/bench.db"
    try:
        token = signup(database_url)
        header = ["-H", f"Authorization: Bearer {token}"]
        run.SHAPES = [("keep-alive", header)]
        common = {"DATABASE_URL": database_url, "JWT_SECRET": SECRET}
        servers = [
            ("axum + SqlitePool + jsonwebtoken (by hand)", f"{run.TARGET}/bench-auth", common),
            ("chopin standard", run.EXAMPLE,
             {**common, "SERVER_MODE": "standard", "SERVER_WORKERS": "1"}),
            ("chopin performance", run.EXAMPLE,
             {**common, "SERVER_MODE": "performance", "SERVER_WORKERS": "1"}),
        ]
        samples = {}
        for n in range(run.RUNS):
            for name, binary, env in servers:
                print(f"run {n + 1}/{run.RUNS}: {name}", file=sys.stderr, flush=True)
                results, _, _ = run.measure(name, binary, env, ["/api/auth/me"])
                samples.setdefault(name, []).append(results[("/api/auth/me", "keep-alive")])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def median(name, field):
        return statistics.median(s[field] for s in samples[name])

    base = median(servers[0][0], "per_cpu")
    print(f"\n`GET /api/auth/me`, SQLite, {run.RUNS} runs x {run.DURATION} s, "
          f"wrk -t1 -c{run.CONNECTIONS} keep-alive, server on core 0; medians.\n")
    print("| server | req/s | p99 ms | req/CPU-s | vs by hand |")
    print("|---|---:|---:|---:|---:|")
    for name, _, _ in servers:
        per_cpu = median(name, "per_cpu")
        print(f"| {name} | {median(name, 'rps'):,.0f} | {median(name, 'p99'):.2f} "
              f"| {per_cpu:,.0f} | {per_cpu / base:.2f}x |")


if __name__ == "__main__":
    main()
