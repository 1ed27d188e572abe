#!/usr/bin/python3
"""The edge -> ingress mTLS hop: what it adds per request.

Two copies of the dynamic topology of tests/e2e/dynamic_env.py run side by side (a control plane,
an edge and two workload clusters, each an ingress gateway + productpage app; 127.0.48.x and
127.0.49.x, free ports, a temporary directory): one with plain text between the gateways, one
with mesh identities on every gateway, so the edge sends to the ingress over mTLS on its mTLS
port, with pooled connections. Each round loads each copy in turn (the order alternates) with
`crossgate load` at a fixed rate (open loop, latency from the scheduled send time), and reads
the p50 and p99 latency and the CPU time of the edge and the cluster-1 ingress (/proc) per
request; then the same closed loop on 8 connections (saturation: requests/s, and CPU per request
without the idle work a low rate spreads over few requests). Prints the medians over rounds and the mTLS - plain differences; asserts nothing (a
benchmark, not a test). Every process started is killed on exit.

    bench/mtls_hop.py [--rounds 3] [--rate 200] [--duration 10] [--json FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
os.environ.setdefault("CROSSGATE_BIN", str(REPO / "build" / "crossgate"))

import dynamic_env as de  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of a process and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_load(env, rate, duration):
    """rate > 0: open loop at rate over 4 connections; 0: closed loop on 8 (saturation)."""
    gws = [env.edge, env.ingress[1]]
    pace = ["--rate", str(rate), "-c", "4"] if rate else ["-c", "8"]
    before = [cpu_s(g.pid) for g in gws]
    r = subprocess.run([de.BIN, "load", f"http://{env.edge_host}:{env.edge_port}/productpage",
                        "--host", de.HOSTNAME, *pace, "-d", f"{duration}s", "--json", "-",
                        "--quiet"], capture_output=True, text=True, timeout=duration + 30, check=True)
    after = [cpu_s(g.pid) for g in gws]
    doc = json.loads(r.stdout)
    n = max(doc["requests"], 1)
    return {
        "requests": doc["requests"],
        "rps": doc["requests"] / duration,
        "failed": doc["failed_requests"],
        "p50_ms": doc["latency_ms"]["p50"],
        "p99_ms": doc["latency_ms"]["p99"],
        "edge_cpu_us": (after[0] - before[0]) * 1e6 / n,
        "ingress_cpu_us": (after[1] - before[1]) * 1e6 / n,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--duration", type=int, default=10, help="seconds per load run")
    ap.add_argument("--json", help="write every run's figures to this file")
    args = ap.parse_args()
    if not Path(de.BIN).exists():
        sys.exit(f"mtls_hop: {de.BIN} not found (make build, or set CROSSGATE_BIN)")
    de._blocks = iter([48, 49])  # the end of the e2e range, clear of a test run's first blocks
    tmp = Path(tempfile.mkdtemp(prefix="cg-mtls-hop-"))
    procs = de.Procs(tmp)
    runs = {"plain": [], "mtls": [], "plain-saturated": [], "mtls-saturated": []}
    try:
        envs = {}
        for mode in ("plain", "mtls"):
            (tmp / mode).mkdir()
            envs[mode] = de.Env(procs, tmp / mode, mtls=mode == "mtls").start_all()
        for mode, env in envs.items():  # warm-up: the pools fill, the caches too
            run_load(env, args.rate, 2)
        for i in range(args.rounds):
            order = ("plain", "mtls") if i % 2 == 0 else ("mtls", "plain")
            for mode in order:
                for rate, name in ((args.rate, mode), (0, mode + "-saturated")):
                    r = run_load(envs[mode], rate, args.duration)
                    runs[name].append(r)
                    print(f"round {i + 1} {name:<16} requests={r['requests']} failed={r['failed']} "
                          f"p50={r['p50_ms']:.3f} ms p99={r['p99_ms']:.3f} ms "
                          f"edge={r['edge_cpu_us']:.1f} us/req ingress={r['ingress_cpu_us']:.1f} us/req",
                          flush=True)
    finally:
        procs.finalize()
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    print(f"\nmedians over {args.rounds} rounds, {args.rate} req/s, {args.duration} s each "
          "(edge -> cluster-1 ingress -> app, all on this machine):")
    print(f"{'':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'edge us/req':>13}{'ingress us/req':>16}")
    keys = ("rps", "p50_ms", "p99_ms", "edge_cpu_us", "ingress_cpu_us")
    d = {}
    for base in ("plain", "plain-saturated"):
        tls = base.replace("plain", "mtls")
        d[tls] = {k: med[tls][k] - med[base][k] for k in keys}
        for m, x, sign in ((base, med[base], ""), (tls, med[tls], ""), ("  added", d[tls], "+")):
            print(f"{m:<18}{x['rps']:>{sign}9.0f}{x['p50_ms']:>{sign}9.3f}{x['p99_ms']:>{sign}9.3f}"
                  f"{x['edge_cpu_us']:>{sign}13.1f}{x['ingress_cpu_us']:>{sign}16.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "medians": med, "added": d}, indent=2))


if __name__ == "__main__":
    main()
