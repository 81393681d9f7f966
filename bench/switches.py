#!/usr/bin/env python3
"""Context switches per request on a database route, by thread: where a request's time
goes between tokio's threads and sqlx's SQLite worker threads (each SQLite connection
has one; every command sent to it is a round trip between threads).

Seeds a database as bench/auth.py does, starts each server pinned to core 0, warms it
for 1 s, then sums voluntary and involuntary switches over /proc/PID/task/*/status
during a DURATION-second wrk run (keep-alive, -c64, core 1) and divides by requests.
Usage: bench/auth.sh (it builds the binaries), then bench/switches.py
"""

import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import auth  # noqa: E402
import run  # noqa: E402


def switches(pid):
    """Switches so far per thread name (trailing digits dropped) and kind."""
    counts = collections.Counter()
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            name = re.sub(r"\d+$", "", open(f"{task}/comm").read().strip())
            status = open(f"{task}/status").read()
        except OSError:
            continue  # the thread ended
        for kind in ("voluntary", "nonvoluntary"):
            found = re.search(rf"^{kind}_ctxt_switches:\s+(\d+)", status, re.M)
            counts[(name, kind)] += int(found.group(1))
    return counts


def wrk(path, token, seconds):
    output = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{run.CONNECTIONS}", f"-d{seconds}s",
         "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{run.PORT}{path}"],
        capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"non-2xx answers:\n{output}")
    return int(re.search(r"(\d+) requests in", output).group(1))


def measure(binary, env, path, token):
    full_env = {"PATH": os.environ.get("PATH", ""), "SERVER_PORT": str(run.PORT),
                "PORT": str(run.PORT), "RUST_LOG": "warn", **env}
    server = subprocess.Popen(["taskset", "-c", "0", binary], env=full_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run.wait_for_port(run.PORT)
        wrk(path, token, 1)
        before = switches(server.pid)
        requests = wrk(path, token, run.DURATION)
        after = switches(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=15)
    return {key: (after[key] - before.get(key, 0)) / requests for key in after}


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    workdir = tempfile.mkdtemp(prefix="chopin-bench-switches-")
    database_url = f"sqlite:{workdir}/bench.db"
    try:
        token = auth.seed(database_url)
        common = {"DATABASE_URL": database_url, "JWT_SECRET": auth.SECRET,
                  "SERVER_WORKERS": "1"}
        servers = [
            ("by hand", f"{run.TARGET}/bench-auth", common),
            ("chopin standard", run.EXAMPLE, {**common, "SERVER_MODE": "standard"}),
            ("chopin performance", run.EXAMPLE, {**common, "SERVER_MODE": "performance"}),
        ]
        print("| server | thread | voluntary | involuntary |")
        print("|---|---|---:|---:|")
        for name, binary, env in servers:
            per_request = measure(binary, env, "/api/auth/me", token)
            threads = sorted({thread for thread, _ in per_request})
            for thread in threads:
                voluntary = per_request.get((thread, "voluntary"), 0)
                involuntary = per_request.get((thread, "nonvoluntary"), 0)
                if voluntary + involuntary >= 0.01:
                    print(f"| {name} | `{thread}` | {voluntary:.2f} | {involuntary:.2f} |")
            print(f"| {name} | all | {sum(per_request.values()):.2f} | |")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
