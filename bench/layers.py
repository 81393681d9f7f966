"""Per-layer instructions per request from a callgrind profile (see bench/layers.sh).

Usage: python3 bench/layers.py PROFILE REQUESTS     (TOP=N: also each layer's top functions)

Every instruction is charged to one layer, its "self" cost:
- the innermost layer among the source files of its inline chain (addr2line -i on the
  profiled binary; profiles without --dump-instr=yes give only the innermost file), else
  the layer its function is named after;
- code of no layer (allocator, memcpy, HeaderMap, drop glue, tower's Either) goes to the
  layer of the call site it was called from, split among several callers in proportion
  to each call's inclusive cost.
A layer's inclusive cost adds the self cost of the rows after it that are deeper.
"""

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

# (depth, name, regex searched in the source file, regex matched at the function's name
# after a leading `<` or `<F as `), outermost first: a layer's inclusive cost adds the
# rows after it that are deeper. Matched innermost first (inner patterns are narrower).
LAYERS = [
    (0, "kernel boundary (libc syscall wrappers, vDSO clock)", None,
     r"(__)?(libc_)?(read|write|writev|readv|recv|send|recvfrom|sendto|recvmsg|sendmsg|"
     r"epoll_wait|epoll_pwait|epoll_ctl|accept4?|close|shutdown|fcntl|syscall)\b|"
     r"clock_gettime|__pthread_(enable|disable)_asynccancel"),
    (0, "tokio runtime (scheduler, I/O driver, timers)", r"/(tokio|mio)-\d", r"(tokio|mio)::"),
    (0, "other (start-up, job workers, SQLite; no caller in a layer)",
     r"chopin-core/src/jobs/|/sqlx-\w+-[\d.]+/|/libsqlite3-sys-",
     r"(chopin_core::jobs|sqlx_\w+|sqlite3|chopin_performance_mode::main|bench_axum::main::\{\{closure\}\}$)"),
    (0, "server connection (Chopin's server::connection, io, timer, date, fast and router "
        "lanes; axum::serve)",
     r"chopin-core/src/server/(connection|io|timer|date|drain|performance|standard|mod"
     r"|fast_lane|router_lane)\.rs|/axum-[\d.]+/src/serve/",
     r"(chopin_core::server::(connection|io|timer|date|drain|performance|standard|fast_lane"
     r"|router_lane)|axum::serve)::"),
    (0, "hyper HTTP/1 (parse, dispatch, encode; hyper-util)",
     r"/(hyper|hyper-util|httparse)-\d", r"(hyper|hyper_util|httparse)::"),
    (1, "server service (ChopinService::call + valid_host; axum's TowerToHyperService)",
     r"chopin-core/src/server/service\.rs|chopin-core/src/middleware/host\.rs"
     r"|/hyper-util-[\d.]+/src/service/",
     r"(chopin_core::server::service|chopin_core::middleware::host|hyper_util::service)::"),
    (2, "request id (middleware::request_id)", r"middleware/request_id\.rs",
     r"chopin_core::middleware::request_id::"),
    (3, "security headers (middleware::security_headers)", r"middleware/security_headers\.rs",
     r"chopin_core::middleware::security_headers::"),
    (3, "JSON errors (middleware::json_errors)", r"middleware/json_errors\.rs",
     r"chopin_core::middleware::json_errors::"),
    (3, "CORS (tower_http::cors)", r"/tower-http-[\d.]+/src/cors/", r"tower_http::cors::"),
    (4, "timeout (middleware::timeout)", r"middleware/timeout\.rs",
     r"chopin_core::middleware::timeout::"),
    (5, "panic guard (middleware::catch_panic)", r"middleware/catch_panic\.rs",
     r"chopin_core::middleware::catch_panic::"),
    (6, "body limit (middleware::body_limit)", r"middleware/body_limit\.rs",
     r"chopin_core::middleware::body_limit::"),
    (7, "axum routing (axum::routing, matchit, chopin_core::routes)",
     r"/axum-[\d.]+/src/(routing/|util\.rs|boxed\.rs)|/matchit-|chopin-core/src/routes\.rs",
     r"(axum::(routing|util|boxed)|matchit|chopin_core::routes)::"),
    (8, "handler (welcome::answer or the closure; axum::handler, extractors)",
     r"chopin-core/src/welcome\.rs|/axum-[\d.]+/src/handler/|/axum-core-[\d.]+/src/",
     r"(chopin_core::welcome|axum::handler|axum_core|bench_axum::main::\{\{closure\}\}::)"),
]
OTHER = 2
FILES = [re.compile(f) if f else None for _, _, f, _ in LAYERS]
NAMES = [re.compile(n) for _, _, _, n in LAYERS]
ORDER = range(len(LAYERS) - 1, -1, -1)


def classify(files, fn):
    """The layer of code at `files` (its inline chain, innermost first) in function `fn`."""
    for file in files:
        for i in ORDER:
            if FILES[i] and FILES[i].search(file):
                return i
    owner = re.sub(r"^<(?:[A-Z]\w* as )?", "", fn)
    for i in ORDER:
        if NAMES[i].match(owner):
            return i
    return None


def inline_chains(binary, addresses):
    """address -> source files of its inline chain, innermost first (addr2line -i)."""
    out = subprocess.run(["addr2line", "-e", binary, "-i", "-a"], check=True, text=True,
                         capture_output=True, input="\n".join(map(hex, addresses))).stdout
    chains, files = {}, None
    for line in out.splitlines():
        if line.startswith("0x"):
            files = chains.setdefault(int(line, 16), [])
        else:
            files.append(line.rpartition(":")[0])
    return chains


def parse(path):
    """Per function: self cost by layer (None: unattributed), calls (layer, callee, cost)."""
    names = defaultdict(dict)  # compressed names, per kind: `(id) name` defines, `(id)` refers
    items = []  # (function, address in the binary or None, file, callee or None, cost)
    ob = fl = fn = cur = callee = binary = command = None
    addr, call, columns = 0, False, 1

    def name(kind, value):
        m = re.match(r"\((\d+)\)(?: (.*))?", value)
        if not m:
            return value
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind][m.group(1)]

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line[:1].isdigit() or line[:1] in ("+", "-", "*"):
                fields = line.split()
                if columns == 2:  # instruction addresses: `+N`, `-N`, `*` are relative
                    a = fields[0]
                    addr = int(a, 16) if a[:2] == "0x" else addr if a == "*" else addr + int(a)
                cost = int(fields[columns]) if len(fields) > columns else 0
                here = addr if columns == 2 and ob == binary else None
                items.append((fn, here, cur, callee if call else None, cost))
                call = False
                continue
            if line.startswith("positions:"):
                columns = len(line.split()) - 1  # `line` or `instr line`
            elif line.startswith("cmd:"):
                command = os.path.basename(line.split()[1])
            key, _, value = line.partition("=")
            if key in ("ob", "cob"):
                obj = name("ob", value)
                if key == "ob":
                    ob = obj
                if os.path.basename(obj) == command:
                    binary = obj
            elif key == "fl":
                fl = cur = name("fl", value)
            elif key in ("fi", "fe"):
                cur = name("fl", value)
            elif key in ("cfi", "cfl"):
                name("fl", value)
            elif key == "fn":
                fn, cur = name("fn", value), fl
            elif key == "cfn":
                callee = name("fn", value)
            elif key == "calls":
                call = True
    addresses = {a for _, a, _, _, _ in items if a is not None}
    chains = inline_chains(binary, sorted(addresses)) if addresses else {}
    self_cost, calls, layer_of = defaultdict(Counter), defaultdict(list), {}
    for fn, a, file, callee, cost in items:
        where = (fn, a, file)
        if where not in layer_of:
            layer_of[where] = classify(chains.get(a) or [file], fn)
        if callee is None:
            self_cost[fn][layer_of[where]] += cost
        else:
            calls[fn].append((layer_of[where], callee, cost))
    return self_cost, calls


def attribute(self_cost, calls):
    """Layer -> instructions: a function's unattributed cost goes to its callers' layers."""
    callers = defaultdict(list)  # callee -> [(caller, layer at the call site, cost)]
    for fn, out in calls.items():
        for layer, callee, cost in out:
            if callee != fn:
                callers[callee].append((fn, layer, cost))
    inherited, visiting = {}, set()

    def inherit(fn):  # the distribution of layers fn's unattributed cost goes to
        if fn in inherited:
            return inherited[fn]
        visiting.add(fn)
        mix, weight = Counter(), 0
        for caller, layer, cost in callers.get(fn, ()):
            if caller in visiting:  # recursion: charged where it closes
                continue
            share = {layer: 1.0} if layer is not None else inherit(caller)
            for k, v in share.items():
                mix[k] += v * cost
            weight += cost
        visiting.discard(fn)
        inherited[fn] = {k: v / weight for k, v in mix.items()} if weight else {OTHER: 1.0}
        return inherited[fn]

    sys.setrecursionlimit(100000)
    total, by_fn = Counter(), defaultdict(Counter)
    for fn, costs in self_cost.items():
        for layer, cost in costs.items():
            for k, v in ({layer: 1.0} if layer is not None else inherit(fn)).items():
                total[k] += v * cost
                by_fn[k][fn] += v * cost
    return total, by_fn


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    total, by_fn = attribute(*parse(path))
    grand = sum(total.values())
    print("| layer | instructions per request (inclusive) | self of layer | share |")
    print("|---|---:|---:|---:|")
    rows = [i for i in range(len(LAYERS)) if i != OTHER] + [OTHER]
    for i in rows:
        depth, label = LAYERS[i][:2]
        inner = i + 1
        while inner < len(LAYERS) and LAYERS[inner][0] > depth:
            inner += 1
        incl = sum(total[j] for j in range(i, inner))
        cells = (f"{incl / requests:,.0f} | {total[i] / requests:,.0f} | {total[i] / grand:.1%}"
                 if total[i] else "– | – | –")  # a layer not in the stack
        print(f"| {'· ' * depth}{label} | {cells} |")
    print(f"| total | {grand / requests:,.0f} | | 100% |")
    if os.environ.get("TOP"):  # the functions whose own instructions each layer got
        for i in rows:
            print(f"\n{LAYERS[i][1]}:")
            for fn, cost in by_fn[i].most_common(int(os.environ["TOP"])):
                print(f"  {cost / requests:8,.0f}  {fn[:150]}")


if __name__ == "__main__":
    main()
