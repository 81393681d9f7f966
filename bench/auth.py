"""Benchmarks database routes on SQLite, one core: `GET /api/auth/me` (token check and
one user lookup) on the performance-mode example and `GET /api/posts/1` (one post) on
chopin-basic-api, each in both modes, against the same routes written by hand with
axum, a typed SqlitePool and jsonwebtoken (`bench-auth`), in one run; the hand-written
routes also run with sqlx's ping before lending a connection off, as Chopin sets it.

Chopin creates the database, the user (signup) and a post, then each server reads the
same file with the same secret and token. All servers run at once (core 0), and each
of RUNS rounds loads every route in turn for DURATION seconds (wrk -t1 -c64 keep-alive,
core 1): on a shared machine whose load drifts over minutes, routes measured seconds
apart compare better than runs minutes apart. The ratio to the hand-written route is
taken within each round; the table gives its median and range.
Usage: bench/auth.sh (builds, then runs this; RUNS=40 DURATION=1 by default).
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


BASIC_API = f"{run.TARGET}/chopin-basic-api"


def post_json(path, body, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{run.PORT}{path}",
                                     data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def with_server(binary, database_url, action):
    env = {"PATH": os.environ.get("PATH", ""), "SERVER_PORT": str(run.PORT),
           "DATABASE_URL": database_url, "JWT_SECRET": SECRET}
    server = run.subprocess.Popen([binary], env=env, stdout=run.subprocess.DEVNULL,
                                  stderr=run.subprocess.DEVNULL)
    try:
        run.wait_for_port(run.PORT)
        return action()
    finally:
        server.send_signal(run.signal.SIGTERM)
        server.wait(timeout=15)


def seed(database_url):
    """A user (through the example) and post 1 (through basic-api); the user's token."""
    token = with_server(run.EXAMPLE, database_url, lambda: post_json(
        "/api/auth/signup", {"email": "bench@example.com", "username": "bench",
                             "password": "correct horse battery"})["access_token"])
    with_server(BASIC_API, database_url, lambda: post_json(
        "/api/posts", {"title": "Hello", "body": "A post to read."}, token))
    return token


def start(binary, env, port):
    full_env = {"PATH": os.environ.get("PATH", ""), "SERVER_PORT": str(port),
                "PORT": str(port), **env}
    server = run.subprocess.Popen(["taskset", "-c", "0", binary], env=full_env,
                                  stdout=run.subprocess.DEVNULL,
                                  stderr=run.subprocess.DEVNULL)
    run.wait_for_port(port)
    return server


def main():
    workdir = tempfile.mkdtemp(prefix="chopin-bench-auth-")
    database_url = f"sqlite:{workdir}/bench.db"
    running = []
    try:
        token = seed(database_url)
        header = ["-H", f"Authorization: Bearer {token}"]
        common = {"DATABASE_URL": database_url, "JWT_SECRET": SECRET, "SERVER_WORKERS": "1"}
        me, post = "/api/auth/me", "/api/posts/1"
        servers = [
            ("axum + SqlitePool + jsonwebtoken (by hand)", f"{run.TARGET}/bench-auth",
             common, [me, post]),
            ("by hand, no ping before lending (NO_PING=1)", f"{run.TARGET}/bench-auth",
             {**common, "NO_PING": "1"}, [me, post]),
            ("chopin standard", run.EXAMPLE, {**common, "SERVER_MODE": "standard"}, [me]),
            ("chopin performance", run.EXAMPLE, {**common, "SERVER_MODE": "performance"}, [me]),
            ("chopin-basic-api standard", BASIC_API, {**common, "SERVER_MODE": "standard"},
             [post]),
            ("chopin-basic-api performance", BASIC_API,
             {**common, "SERVER_MODE": "performance"}, [post]),
        ]
        # Every server runs at once, idle but for the one wrk is loading: each round
        # measures every route for DURATION seconds back to back, so a change in the
        # machine's load affects a round's routes alike and the ratios within a round
        # stay comparable.
        slots = []
        for i, (name, binary, env, paths) in enumerate(servers):
            server = start(binary, env, run.PORT + i)
            running.append(server)
            for path in paths:
                slots.append((name, path, server, f"http://127.0.0.1:{run.PORT + i}{path}"))
        for _, _, _, url in slots:
            run.wrk(url, header, 1)  # warm-up
        samples = {}
        for n in range(run.RUNS):
            print(f"round {n + 1}/{run.RUNS}", file=sys.stderr, flush=True)
            # Rotated, so no route is always measured first or last.
            k = n % len(slots)
            for name, path, server, url in slots[k:] + slots[:k]:
                before = run.cpu_seconds(server.pid)
                requests, rps, p99 = run.wrk(url, header, run.DURATION)
                cpu = run.cpu_seconds(server.pid) - before
                samples.setdefault((name, path), []).append(
                    {"rps": rps, "p99": p99, "per_cpu": requests / cpu})
    finally:
        for server in running:
            server.send_signal(run.signal.SIGTERM)
            server.wait(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)

    def median(key, field):
        return statistics.median(s[field] for s in samples[key])

    base_name = servers[0][0]
    print(f"\nSQLite, {run.RUNS} rounds x {run.DURATION} s per route, wrk -t1 "
          f"-c{run.CONNECTIONS} keep-alive, servers on core 0; medians. The ratio is taken "
          f"within each round; its median and range over the rounds.\n")
    print("| server | route | req/s | p99 ms | req/CPU-s | vs by hand | range |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, _, _, paths in servers:
        for path in paths:
            ratios = [s["per_cpu"] / b["per_cpu"]
                      for s, b in zip(samples[(name, path)], samples[(base_name, path)])]
            print(f"| {name} | `{path}` | {median((name, path), 'rps'):,.0f} "
                  f"| {median((name, path), 'p99'):.2f} "
                  f"| {median((name, path), 'per_cpu'):,.0f} "
                  f"| {statistics.median(ratios):.2f}x "
                  f"| {min(ratios):.2f}–{max(ratios):.2f} |")


if __name__ == "__main__":
    main()
