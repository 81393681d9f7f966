"""Runs the benchmark matrix and prints a markdown table of medians.

Each server runs pinned to core 0 (one worker), wrk pinned to core 1. For every
server, path and shape (keep-alive, 16-deep pipelining) it records requests/s, p99
latency, requests per server-CPU-second (utime+stime from /proc/PID/stat over the
measured window), idle and peak RSS.

Baselines, all measured in the same run: plain hyper, axum::serve as documented
(Nagle on) and with TCP_NODELAY, axum::serve with TCP_NODELAY and the tower-http
layers that give what Chopin gives by default (request id, security headers, tracing,
closed CORS, timeout, panic guard, body limit), and may-minihttp (TechEmpower's
plaintext and JSON routes on one `may` worker). Ratios of requests per CPU-second are
against hyper's `/`, axum::serve + TCP_NODELAY's `/`, the tower-http stack's `/` and
may-minihttp's `/plaintext`, for the same shape.
"""

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

RUNS = int(os.environ.get("RUNS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "64"))
PORT = int(os.environ.get("BENCH_PORT", "3999"))
TARGET = "target/release"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SECRET = "bench-secret-bench-secret-bench-secret!"

EXAMPLE = f"{TARGET}/chopin-performance-mode"


def chopin(mode, environment):
    env = {"SERVER_MODE": mode, "ENVIRONMENT": environment, "SERVER_WORKERS": "1"}
    if environment == "production":
        env["JWT_SECRET"] = SECRET
        # Production requires a mail server; nothing here sends mail.
        env["SMTP_URL"] = "smtp://127.0.0.1:2525"
    return env


# name, binary, environment, paths
SERVERS = [
    ("hyper", f"{TARGET}/bench-hyper", {}, ["/"]),
    ("axum::serve (Nagle on)", f"{TARGET}/bench-axum", {}, ["/"]),
    ("axum::serve + TCP_NODELAY", f"{TARGET}/bench-axum", {"NODELAY": "1"}, ["/"]),
    ("axum::serve + TCP_NODELAY + tower-http stack", f"{TARGET}/bench-axum-stack", {},
     ["/"]),
    ("may-minihttp", f"{TARGET}/bench-may-minihttp", {}, ["/plaintext", "/json"]),
    # Not a bar: hyper doing what a fast route does (headers, header-read timeout).
    ("hyper + fast-route headers/timeout", f"{TARGET}/bench-hyper",
     {"SAME_AS_CHOPIN": "1"}, ["/"]),
]
for environment in ("development", "production"):
    SERVERS.append(
        (f"chopin performance ({environment})", EXAMPLE,
         chopin("performance", environment), ["/json", "/plaintext", "/"])
    )
    SERVERS.append(
        (f"chopin standard ({environment})", EXAMPLE,
         chopin("standard", environment), ["/", "/json"])
    )

# Extra builds or settings of the example to compare, as
# "label=path[|VAR=value...],..." (see variants.sh); each runs in performance mode,
# production environment.
for variant in filter(None, os.environ.get("VARIANTS", "").split(",")):
    label, spec = variant.split("=", 1)
    path, *settings = spec.split("|")
    env = chopin("performance", "production")
    env.update(setting.split("=", 1) for setting in settings)
    SERVERS.append((f"chopin performance, {label}", path, env, ["/json", "/"]))

SHAPES = [("keep-alive", []), ("pipelined x16", ["-s", "bench/pipeline.lua"])]


def wait_for_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15; fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, shape_args, duration):
    args = ["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s",
            "--latency", *shape_args, url]
    if shape_args:
        args += ["--", "16"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} non-2xx answers\n{out}")
    return requests, rps, to_ms(*p99.groups()) if p99 else float("nan")


def measure(name, binary, env, paths):
    full_env = {"PATH": os.environ.get("PATH", ""), "SERVER_PORT": str(PORT),
                "PORT": str(PORT), **env}
    server = subprocess.Popen(["taskset", "-c", "0", binary], env=full_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        wait_for_port(PORT)
        time.sleep(0.3)
        idle = rss_kib(server.pid, "VmRSS")
        for path in paths:
            url = f"http://127.0.0.1:{PORT}{path}"
            for shape, shape_args in SHAPES:
                wrk(url, shape_args, 1)  # warm-up
                before = cpu_seconds(server.pid)
                requests, rps, p99 = wrk(url, shape_args, DURATION)
                cpu = cpu_seconds(server.pid) - before
                results[(path, shape)] = {
                    "rps": rps, "p99": p99,
                    "per_cpu": requests / cpu if cpu > 0 else float("nan"),
                }
        peak = rss_kib(server.pid, "VmHWM")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return results, idle, peak


def main():
    samples = {}
    memory = {}
    for run in range(RUNS):
        for name, binary, env, paths in SERVERS:
            print(f"run {run + 1}/{RUNS}: {name}", file=sys.stderr, flush=True)
            results, idle, peak = measure(name, binary, env, paths)
            memory.setdefault(name, []).append((idle, peak))
            for key, value in results.items():
                samples.setdefault((name, *key), []).append(value)

    def median(key, field):
        return statistics.median(s[field] for s in samples[key])

    print(f"\n{RUNS} runs x {DURATION} s, wrk -t1 -c{CONNECTIONS}, server on core 0, "
          f"wrk on core 1; medians.\n")
    print("| server | path | shape | req/s | p99 ms | req/CPU-s | vs hyper "
          "| vs axum::serve + TCP_NODELAY | vs axum + tower-http stack "
          "| vs may-minihttp |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, path, shape) in samples:
        per_cpu = median((name, path, shape), "per_cpu")
        hyper = median(("hyper", "/", shape), "per_cpu")
        axum = median(("axum::serve + TCP_NODELAY", "/", shape), "per_cpu")
        stack = median(("axum::serve + TCP_NODELAY + tower-http stack", "/", shape),
                       "per_cpu")
        may = median(("may-minihttp", "/plaintext", shape), "per_cpu")
        print(f"| {name} | `{path}` | {shape} | {median((name, path, shape), 'rps'):,.0f} "
              f"| {median((name, path, shape), 'p99'):.2f} | {per_cpu:,.0f} "
              f"| {per_cpu / hyper:.2f}x | {per_cpu / axum:.2f}x | {per_cpu / stack:.2f}x "
              f"| {per_cpu / may:.2f}x |")
    print("\n| server | idle RSS MiB | peak RSS MiB |")
    print("|---|---:|---:|")
    for name, values in memory.items():
        idle = statistics.median(v[0] for v in values) / 1024
        peak = statistics.median(v[1] for v in values) / 1024
        print(f"| {name} | {idle:.1f} | {peak:.1f} |")


if __name__ == "__main__":
    main()
