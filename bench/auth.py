"""Benchmarks database routes on SQLite, one core: `GET /api/auth/me` (token check and
one user lookup) on the performance-mode example and `GET /api/posts/1` (one post) on
chopin-basic-api, each in both modes, against the same routes written by hand with
axum, a typed SqlitePool and jsonwebtoken (`bench-auth`), in one run; the hand-written
routes also run with sqlx's ping before lending a connection off, as Chopin sets it.

Chopin creates the database, the user (signup) and a post, then each server reads the
same file with the same secret and token. Keep-alive only: wrk -t1 -c64, server on core 0,
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


def main():
    workdir = tempfile.mkdtemp(prefix="chopin-bench-auth-")
    database_url = f"sqlite:{workdir}/bench.db"
    try:
        token = seed(database_url)
        header = ["-H", f"Authorization: Bearer {token}"]
        run.SHAPES = [("keep-alive", header)]
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
        samples = {}
        for n in range(run.RUNS):
            for name, binary, env, paths in servers:
                print(f"run {n + 1}/{run.RUNS}: {name}", file=sys.stderr, flush=True)
                results, _, _ = run.measure(name, binary, env, paths)
                for path in paths:
                    samples.setdefault((name, path), []).append(results[(path, "keep-alive")])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def median(key, field):
        return statistics.median(s[field] for s in samples[key])

    base_name = servers[0][0]
    print(f"\nSQLite, {run.RUNS} runs x {run.DURATION} s, wrk -t1 -c{run.CONNECTIONS} "
          f"keep-alive, server on core 0; medians.\n")
    print("| server | route | req/s | p99 ms | req/CPU-s | vs by hand |")
    print("|---|---|---:|---:|---:|---:|")
    for name, _, _, paths in servers:
        for path in paths:
            per_cpu = median((name, path), "per_cpu")
            base = median((base_name, path), "per_cpu")
            print(f"| {name} | `{path}` | {median((name, path), 'rps'):,.0f} "
                  f"| {median((name, path), 'p99'):.2f} | {per_cpu:,.0f} "
                  f"| {per_cpu / base:.2f}x |")


if __name__ == "__main__":
    main()
