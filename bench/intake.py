#!/usr/bin/python3
"""Edge snapshot intake at scale: from an apply returning to the edge gateway serving the new snapshot.

Sets up a control plane and one edge gateway in dynamic mode, on 127.0.98.x with free ports, in a
temporary directory. The resources are those of bench/control.sh: CLUSTERS Clusters (10 regions),
each with one static ingress gateway instance (spec.gateways, so that no process has to keep
1,000 leases alive), HOSTNAMES workload Gateways that every ingress serves, and the edge Gateway
with one auto cluster destination per hostname: the edge's snapshot has CLUSTERS x HOSTNAMES
endpoints (100,000 and 10.5 MB by default). Every static instance is at 127.0.98.3 and the edge's
health checks are off, so the edge sends nothing to its endpoints.

Then, N times, applies cluster-5 in another zone through POST /v1/apply (the control plane
recomputes what that reaches before it answers: the edge) and waits for the edge's log to say it
took the new version. It prints what the apply took (the control plane answers once it has
recomputed what the change reaches and woken the edge's watch), the log line's time minus the
apply's start and minus its return, and what the gateway's log says it spent decoding, and
compiling and swapping. "apply returned -> edge swapped" is the intake (the control plane sending
the snapshot, the gateway receiving, decoding, compiling and swapping it), a little short of it:
the control plane writes the watch's answer before the apply's, so the apply's return reaches
this script after the edge started receiving (at a small scale the figure is below zero). Asserts
nothing; every process started is killed on exit.

    bench/intake.py [--clusters 1000] [--hostnames 100] [--applies 10]
"""

import argparse
import datetime
import os
import re
import shutil
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

HOST_CONTROL, HOST_EDGE = "127.0.98.1", "127.0.98.2"
# Every Cluster's static ingress instance has this address: endpoints of different clusters stay
# apart (one per cluster and hostname) and nothing is ever sent there (health checks are off).
INGRESS = "127.0.98.3"
# the swap (every version of crossgate says it), and what the agent spent (since this bench)
APPLIED = re.compile(r"^(\S+Z) \[info\] config v(\d+) applied \(control plane\)", re.M)
SPENT = re.compile(r"^\S+Z \[info\] snapshot v(\d+): (\d+) bytes, decoded in ([\d.]+) ms, "
                   r"compiled and swapped in ([\d.]+) ms", re.M)


def resources(clusters, hostnames, edge_port):
    docs = []
    for c in range(clusters):
        docs.append(f"apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {{name: cluster-{c}}}\n"
                    f"spec:\n  locality: {{region: region-{c % 10}}}\n  gateways:\n"
                    f"  - {{address: {INGRESS}, namespace: bookinfo, "
                    f"labels: {{app: ingressgw}}}}\n")
    docs.append("apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-edge}\n"
                "spec:\n  locality: {region: region-0}\n")
    for h in range(hostnames):
        docs.append(f"apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {{name: ingress-{h}}}\n"
                    f"spec:\n  workloadSelector: {{namespace: bookinfo, labels: {{app: ingressgw}}}}\n"
                    f"  http:\n  - name: h{h}\n    port: {8000 + h % 50}\n"
                    f"    hostname: host-{h}.example.com\n    routing:\n      rules:\n"
                    f"      - route: {{serviceDestination: {{host: bookinfo/pp.bookinfo.svc.cluster.local, "
                    f"port: 9080}}}}\n")
    edge = ["apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: edge}\n"
            "spec:\n  workloadSelector: {namespace: edge, labels: {app: edgegw}}\n  http:\n"]
    for h in range(hostnames):
        edge.append(f"  - name: h{h}\n    port: {edge_port}\n    hostname: host-{h}.example.com\n"
                    f"    healthCheck: {{enabled: false}}\n"
                    f"    routing:\n      rules:\n      - route: {{clusterDestination: {{}}}}\n")
    docs.append("".join(edge))
    return "---\n".join(docs)


def post_apply(cp, name, text):
    req = urllib.request.Request(cp.url + "/v1/apply", data=text.encode(), method="POST",
                                 headers={"X-Crossgate-Filename": name,
                                          "Authorization": f"Bearer {cp.token}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()


def wall(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--hostnames", type=int, default=100)
    ap.add_argument("--applies", type=int, default=10)
    ap.add_argument("--deadline", type=float, default=30.0, help="give up on one apply after this (s)")
    args = ap.parse_args()
    if not Path(de.BIN).exists():
        sys.exit(f"intake: {de.BIN} not found (make build, or set CROSSGATE_BIN)")
    tmp = Path(tempfile.mkdtemp(prefix="cg-intake-"))
    procs = de.Procs(tmp)
    try:
        cp = de.ControlPlane(procs, HOST_CONTROL, tmp / "control").start()
        t0 = time.monotonic()
        post_apply(cp, "scale.yaml", resources(args.clusters, args.hostnames, de.free_port(HOST_EDGE)))
        print(f"intake: {args.clusters} clusters x {args.hostnames} hostnames applied in "
              f"{time.monotonic() - t0:.1f} s")
        tok = tmp / "admin.token"
        tok.write_text(cp.token + "\n")
        edge = de.Gateway(procs, "edge", "cluster-edge", "edge", "app=edgegw", HOST_EDGE, cp.url,
                          token_file=tok)
        edge.start()

        def taken():
            return APPLIED.findall(edge.log())

        def spent(version):
            """(decode ms, compile and swap ms) of that version, or None (an older crossgate)."""
            got = [m for m in SPENT.findall(edge.log()) if m[0] == version]
            return (float(got[-1][2]), float(got[-1][3])) if got else None

        de.wait_until(lambda: taken(), timeout=args.deadline, what="the edge's first snapshot")
        first = taken()[-1]
        print(f"intake: first snapshot v{first[1]} taken: decode and compile+swap {spent(first[1])} ms")
        rows = []
        for n in range(args.applies):
            seen = len(taken())
            doc = (f"apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {{name: cluster-5}}\n"
                   f"spec:\n  locality: {{region: region-5, zone: zone-{n}}}\n  gateways:\n"
                   f"  - {{address: {INGRESS}, namespace: bookinfo, labels: {{app: ingressgw}}}}\n")
            a0 = time.time()
            post_apply(cp, "cluster-5.yaml", doc)
            a1 = time.time()
            try:
                de.wait_until(lambda: len(taken()) > seen, timeout=args.deadline, what=f"apply {n} taken")
            except AssertionError:
                print("".join(edge.log().splitlines(True)[-8:]) + "".join(cp.p.stderr().splitlines(True)[-8:]),
                      file=sys.stderr)
                raise
            stamp, version = taken()[-1]
            dec, comp = spent(version) or (float("nan"), float("nan"))
            rows.append(((a1 - a0) * 1000, (wall(stamp) - a0) * 1000, (wall(stamp) - a1) * 1000,
                         dec, comp))
        print(f"intake: {args.applies} applies of cluster-5 (a new zone: the edge's snapshot changes), "
              f"POST /v1/apply, then the edge's log (times in ms; the log's clock has 1 ms steps)")
        for name, k in (("apply (store + recompute)", 0), ("apply sent -> edge swapped", 1),
                        ("apply returned -> edge swapped", 2), ("edge: decode", 3),
                        ("edge: compile + swap", 4)):
            xs = sorted(r[k] for r in rows)
            print(f"  {name:<32} median {statistics.median(xs):7.1f}  min {xs[0]:7.1f}  max {xs[-1]:7.1f}")
    finally:
        crashed = procs.finalize()
        if crashed:
            print("\n".join(crashed), file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
