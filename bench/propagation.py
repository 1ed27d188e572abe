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
                         [--store sqlite|etcd|both] [--block B]

--api posts the file to POST /v1/apply from this process instead of running the CLI: the same
measurement without the CLI's process start and local validation.

--store picks the control plane's store: SQLite (the default), etcd (a 3-member etcd-server
cluster that the bench starts on 127.0.B.31-33, tests/e2e/etcd_env.py), or both, one after the
other in the same run, each on a fresh topology; the last lines then put the p50 and p99 of
the stores side by side. --block B: the 127.0.B.0/24 block everything runs on (default 49).
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
import etcd_env  # noqa: E402


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
    ap.add_argument("--store", choices=("sqlite", "etcd", "both"), default="sqlite",
                    help="the control plane's store: SQLite, a 3-member etcd, or both in turn")
    # the last block of the e2e range, so that a bench next to the tests does not collide
    ap.add_argument("--block", type=int, default=49, help="run on 127.0.BLOCK.0/24")
    args = ap.parse_args()
    if not Path(de.BIN).exists():
        sys.exit(f"propagation: {de.BIN} not found (make build, or set CROSSGATE_BIN)")
    stores = ["sqlite", "etcd"] if args.store == "both" else [args.store]
    if "etcd" in stores and etcd_env.ETCD is None:
        sys.exit(f"propagation: {etcd_env.SKIP_REASON}")
    figures = {}
    for store in stores:
        figures[store] = run(args, store)
    if len(stores) > 1:
        how = "POST /v1/apply" if args.api else "crossgate apply"
        print(f"\n{args.applies} applies on each store ({how}), in ms:")
        print(f"  {'store':<18} {'apply start -> served':>24}   {'apply returned -> served':>24}")
        for store, f in figures.items():
            name = "etcd (3 members)" if store == "etcd" else store
            t, p = f["total_ms"], f["propagation_ms"]
            print(f"  {name:<18} p50={t['p50']:7.2f}  p99={t['p99']:7.2f}   p50={p['p50']:7.2f}  p99={p['p99']:7.2f}")
    if args.json:
        out = figures[stores[0]] if len(stores) == 1 else {"stores": figures}
        Path(args.json).write_text(json.dumps(out, indent=1))


def run(args, store):
    """One topology on store: the applies and the figures (also printed)."""
    tmp = Path(tempfile.mkdtemp(prefix="cg-propagation-"))
    procs = de.Procs(tmp)
    try:
        control_args = []
        if store == "etcd":
            etcd = etcd_env.Etcd(tmp, [f"127.0.{args.block}.{31 + i}" for i in range(3)], procs=procs)
            etcd.start()
            control_args = ["--store", f"etcd://{etcd.endpoints}"]
        env = de.Env(procs, tmp, block=args.block, control_args=control_args)
        # with --store etcd the control plane does not create --data, where it writes the
        # admin credential (SQLite's open does)
        env.cp.data.mkdir(parents=True, exist_ok=True)
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
        name = "etcd, 3 members" if store == "etcd" else store
        print(f"propagation ({name}): {args.applies} applies of the edge Gateway ({args.variant} variants), "
              f"{how}, then requests to the edge until the new config answers")
        print(summary(f"{how} (returns)", apply_ms))
        print(summary("apply returned -> served", prop_ms))
        total_ms = [a + p for a, p in zip(apply_ms, prop_ms)]
        print(summary("apply start -> served", total_ms))
        print(f"{'requests until served':<28} p50={pct(polls, 50):.0f}  max={max(polls)}")
        return {
            "applies": args.applies, "variant": args.variant, "via": how, "store": store,
            "propagation_ms": {"p50": pct(prop_ms, 50), "p90": pct(prop_ms, 90), "p99": pct(prop_ms, 99),
                               "max": max(prop_ms), "samples": prop_ms},
            "apply_ms": {"p50": pct(apply_ms, 50), "p99": pct(apply_ms, 99), "samples": apply_ms},
            "total_ms": {"p50": pct(total_ms, 50), "p99": pct(total_ms, 99)},
        }
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
