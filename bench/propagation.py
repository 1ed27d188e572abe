#!/usr/bin/python3
"""Propagation delay: from `crossgate apply` returning to the edge gateway serving the new config.

Sets up a control plane, an edge and two workload clusters (ingress gateway + productpage app
each), every gateway in dynamic mode, on 127.0.49.x with free ports, in a temporary directory
(the topology of tests/e2e/dynamic_env.py). Then, N times, applies the edge Gateway alternately
as named [cluster-1] and named [cluster-2] (or, with --variant direct, a directResponse whose
body changes) and, as soon as `apply` returns, sends requests to the edge back to back on one
keep-alive connection until one is answered under the new config (x-app-cluster, or the body).
The delay of one apply is the end of that first new answer minus the return of `apply`.

Prints the apply time and the propagation percentiles; asserts nothing (a benchmark, not a
test; the issue's target is p99 < 100 ms). Every process started is killed on exit.

    bench/propagation.py [--applies 100] [--variant named|direct] [--api] [--json FILE]

--api posts the file to POST /v1/apply from this process instead of running the CLI: the same
measurement without the CLI's process start and local validation.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
os.environ.setdefault("CROSSGATE_BIN", str(REPO / "build" / "crossgate"))

import dynamic_env as de  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(name, xs):
    return (f"{name:<28} n={len(xs):<4} p50={pct(xs, 50):7.2f}  p90={pct(xs, 90):7.2f}  "
            f"p99={pct(xs, 99):7.2f}  max={max(xs):7.2f}  mean={statistics.mean(xs):7.2f}  (ms)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--applies", type=int, default=100)
    ap.add_argument("--variant", choices=("named", "direct"), default="named")
    ap.add_argument("--api", action="store_true", help="POST /v1/apply instead of running the CLI")
    ap.add_argument("--json", help="write the figures (and every sample) to this file")
    ap.add_argument("--deadline", type=float, default=5.0, help="give up on one apply after this (s)")
    args = ap.parse_args()
    if not Path(de.BIN).exists():
        sys.exit(f"propagation: {de.BIN} not found (make build, or set CROSSGATE_BIN)")

    # the last block of the e2e range, so that a bench next to the tests does not collide
    de._blocks = iter([49])
    tmp = Path(tempfile.mkdtemp(prefix="cg-propagation-"))
    procs = de.Procs(tmp)
    try:
        env = de.Env(procs, tmp)
        if args.variant == "named":
            files = [env.edge_file("to-1", ("named", ["cluster-1"])), env.edge_file("to-2", ("named", ["cluster-2"]))]
            expect = ["cluster-1", "cluster-2"]
        else:
            files = [env.edge_file("body-a", ("direct", 200, "a")), env.edge_file("body-b", ("direct", 200, "b"))]
            expect = ["a", "b"]
        env.start_control()
        env.cp.apply(env.f_clusters, env.f_services, env.f_ingress[1], env.f_ingress[2], files[0])
        for k in (1, 2):
            env.start_app(k)
        for k in (1, 2):
            env.start_ingress(k)
        env.start_edge()
        if args.variant == "named":
            env.wait_edge_endpoints((1,))

        conn = http.client.HTTPConnection(env.edge_host, env.edge_port, timeout=5)

        def answer():
            conn.request("GET", "/productpage", headers={"Host": de.HOSTNAME})
            r = conn.getresponse()
            body = r.read()
            return r.getheader("x-app-cluster") if args.variant == "named" else body.decode()

        de.wait_until(lambda: answer() == expect[0], what="the first variant served")
        bodies = [f.read_bytes() for f in files]

        def apply(i):
            if args.api:
                req = urllib.request.Request(env.cp.url + "/v1/apply", data=bodies[i], method="POST",
                                             headers={"X-Crossgate-Filename": str(files[i]),
                                                      "Authorization": f"Bearer {env.cp.token}"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
            else:
                env.cp.cli("apply", "-f", files[i])

        apply_ms, prop_ms, polls = [], [], []
        for n in range(args.applies):
            i = (n + 1) % 2
            t0 = time.monotonic()
            apply(i)
            t1 = time.monotonic()
            k = 0
            while True:
                k += 1
                got = answer()
                t2 = time.monotonic()
                if got == expect[i]:
                    break
                if t2 - t1 > args.deadline:
                    sys.exit(f"propagation: apply {n}: still {got!r} after {args.deadline}s")
            apply_ms.append((t1 - t0) * 1000)
            prop_ms.append((t2 - t1) * 1000)
            polls.append(k)
        conn.close()

        how = "POST /v1/apply" if args.api else "crossgate apply"
        print(f"propagation: {args.applies} applies of the edge Gateway ({args.variant} variants), "
              f"{how}, then requests to the edge until the new config answers")
        print(summary(f"{how} (returns)", apply_ms))
        print(summary("apply returned -> served", prop_ms))
        print(summary("apply start -> served", [a + p for a, p in zip(apply_ms, prop_ms)]))
        print(f"{'requests until served':<28} p50={pct(polls, 50):.0f}  max={max(polls)}")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "applies": args.applies, "variant": args.variant, "via": how,
                "propagation_ms": {"p50": pct(prop_ms, 50), "p90": pct(prop_ms, 90), "p99": pct(prop_ms, 99),
                                   "max": max(prop_ms), "samples": prop_ms},
                "apply_ms": {"p50": pct(apply_ms, 50), "p99": pct(apply_ms, 99), "samples": apply_ms},
            }, indent=1))
    finally:
        crashed = procs.finalize()
        if crashed:
            print("\n".join(crashed), file=sys.stderr)
        for f in sorted(tmp.rglob("*")):
            if f.is_file():
                f.unlink()
        for d in sorted((p for p in tmp.rglob("*") if p.is_dir()), reverse=True):
            d.rmdir()
        tmp.rmdir()


if __name__ == "__main__":
    main()
