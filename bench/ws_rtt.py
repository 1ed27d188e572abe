#!/usr/bin/python3
"""WebSocket echo round-trip latency through edge -> ingress -> app, against the app alone.

Two copies of the dynamic topology of tests/e2e/dynamic_env.py (as bench/mtls_hop.py: blocks
127.0.48.x and 127.0.49.x, free ports, a temporary directory): one plain text between the
gateways, one with mesh identities (edge -> ingress over mTLS). The client is Python's
`websockets` (Debian python3-websockets, compression=None, no pings) on `--conns` WebSocket
connections to `crossgate app`'s /ws echo, in three modes:

    direct   straight to cluster-1's app (the baseline: no gateway)
    plain    edge -> cluster-1 ingress -> app, plain text
    mtls     the same with edge -> ingress over mTLS

Open loop: message k is due at t0 + k/rate, whatever happened to the earlier ones, sent round
robin over the connections; a pacing thread (time.sleep, finer than the event loop's 1 ms
timers) hands each message to the event loop when it is due. Latency = echo arrival - due
time, so a stall delays every message due during it (coordinated omission is not hidden); a
message without its echo at the end counts as infinite latency. Also per run: how late the
client sent (send lag: actual send - due time), the client's CPU (all its threads, of one
core), and the gateways' and the app's CPU per message (/proc). Each round runs the three modes
one after the other, the order reversed every other round (so plain and mTLS alternate);
prints every run, the medians over rounds, and what the gateways add over direct. Asserts
nothing (a benchmark, not a test). Every process started is killed on exit, and the
temporary directory (logs, configs, the mesh CA's keys) removed unless a process crashed.

    bench/ws_rtt.py [--rounds 3] [--rate 1000] [--duration 10] [--conns 10] [--size 64] [--json FILE]
"""

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
os.environ.setdefault("CROSSGATE_BIN", str(REPO / "build" / "crossgate"))

import dynamic_env as de  # noqa: E402
import websockets  # noqa: E402
from support import http_request  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
DRAIN_S = 5.0  # after the last send: how long the missing echoes are waited for


def cpu_s(pid):
    """utime + stime of a process and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(sorted_xs, p):
    """Nearest-rank percentile of a sorted list."""
    return sorted_xs[max(0, math.ceil(p / 100 * len(sorted_xs)) - 1)]


def upgrades(gw):
    """crossgate_downstream_cx_upgrades_total of a gateway (WebSocket tunnels it spliced)."""
    text = http_request("GET", gw.admin + "/metrics", timeout=2)[2].decode()
    for line in text.splitlines():
        if line.startswith("crossgate_downstream_cx_upgrades_total"):
            return int(float(line.split()[-1]))
    return 0


async def echo_run(target, rate, duration, conns, size):
    """One open-loop run; returns the raw figures (latencies in seconds)."""
    url, kw = target
    n = int(rate * duration)
    sent = [math.nan] * n
    recv = [math.nan] * n
    loop = asyncio.get_running_loop()
    got = [0]
    done = asyncio.Event()
    errors = []
    wss = []
    tasks = set()
    stop = threading.Event()
    pad = b"\x00" * max(0, size - 8)

    async def reader(ws):
        try:
            async for m in ws:
                now = time.monotonic()
                k = int.from_bytes(m[:8], "little")
                if 0 <= k < n and math.isnan(recv[k]):
                    recv[k] = now
                    got[0] += 1
                    if got[0] == n:
                        done.set()
        except websockets.exceptions.ConnectionClosed as e:
            if not stop.is_set():
                errors.append(repr(e))

    def fire(k):
        sent[k] = time.monotonic()
        t = loop.create_task(wss[k % conns].send(k.to_bytes(8, "little") + pad))
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    def pace(t0):
        for k in range(n):
            due = t0 + k / rate
            while not stop.is_set():
                d = due - time.monotonic()
                if d <= 0:
                    break
                time.sleep(min(d, 0.05))
            if stop.is_set():
                return
            loop.call_soon_threadsafe(fire, k)

    readers = []
    th = None
    try:
        for _ in range(conns):
            wss.append(await websockets.connect(url, compression=None, ping_interval=None,
                                                open_timeout=10, close_timeout=5, **kw))
        readers = [loop.create_task(reader(ws)) for ws in wss]
        cpu0 = self_cpu_s()
        t0 = time.monotonic() + 0.05
        th = threading.Thread(target=pace, args=(t0,), daemon=True)
        th.start()
        try:
            await asyncio.wait_for(done.wait(), duration + DRAIN_S)
        except asyncio.TimeoutError:
            pass
        wall = time.monotonic() - t0
        cpu = self_cpu_s() - cpu0
    finally:
        stop.set()
        if th:
            th.join(5)
        for t in list(tasks):
            t.cancel()
        try:
            await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in wss), return_exceptions=True), 10)
        except asyncio.TimeoutError:
            for ws in wss:
                ws.transport.abort()
        for r in readers:
            r.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    due = [t0 + k / rate for k in range(n)]
    lat = sorted((recv[k] - due[k]) if not math.isnan(recv[k]) else math.inf for k in range(n))
    lag = sorted((sent[k] - due[k]) if not math.isnan(sent[k]) else math.inf for k in range(n))
    last_sent = max((s for s in sent if not math.isnan(s)), default=t0)
    return {
        "messages": n,
        "lost": sum(1 for x in recv if math.isnan(x)),
        "errors": errors[:5],
        "sent_rate": sum(1 for s in sent if not math.isnan(s)) / max(last_sent - t0, 1e-9),
        "p50_ms": pct(lat, 50) * 1e3,
        "p90_ms": pct(lat, 90) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
        "max_ms": lat[-1] * 1e3,
        "lag_p50_ms": pct(lag, 50) * 1e3,
        "lag_p99_ms": pct(lag, 99) * 1e3,
        "client_cpu_pct": 100 * cpu / wall,
    }


def run_mode(env_for, mode, args, duration):
    env = env_for[mode]
    if mode == "direct":
        host, port = env.app_host[1], env.app_port[1]
        target = (f"ws://{host}:{port}/ws", {})
        pids = {"app": env.apps[1].pid}
    else:
        target = (f"ws://{de.HOSTNAME}:{env.edge_port}/ws", {"host": env.edge_host, "port": env.edge_port})
        pids = {"edge": env.edge.pid, "ingress": env.ingress[1].pid, "app": env.apps[1].pid}
    before = {k: cpu_s(p) for k, p in pids.items()}
    r = asyncio.run(asyncio.wait_for(echo_run(target, args.rate, duration, args.conns, args.size),
                                     duration + DRAIN_S + 60))
    n = max(r["messages"], 1)
    for k, p in pids.items():
        r[f"{k}_us"] = (cpu_s(p) - before[k]) * 1e6 / n
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1000, help="messages per second, over all connections")
    ap.add_argument("--duration", type=int, default=10, help="seconds per run")
    ap.add_argument("--conns", type=int, default=10, help="WebSocket connections")
    ap.add_argument("--size", type=int, default=64, help="bytes per message (8 at least)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per mode, 0 for none")
    ap.add_argument("--modes", default="direct,plain,mtls", help="a subset of direct,plain,mtls")
    ap.add_argument("--json", help="write every run's figures to this file")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - {"direct", "plain", "mtls"}:
        sys.exit("ws_rtt: --modes: a subset of direct,plain,mtls")
    if args.rate < 1 or args.duration < 1 or args.conns < 1 or not 8 <= args.size <= 1 << 20 \
            or not 1 <= args.rounds <= 100 or args.duration > 600:
        sys.exit("ws_rtt: --rate, --conns >= 1; --duration 1..600; --rounds 1..100; --size 8..1048576")
    if not Path(de.BIN).exists():
        sys.exit(f"ws_rtt: {de.BIN} not found (make build, or set CROSSGATE_BIN)")
    sys.setswitchinterval(0.0005)  # the pacing thread gets the GIL within 0.5 ms of asking
    de._blocks = iter([48, 49])  # the end of the e2e range, clear of a test run's first blocks
    tmp = Path(tempfile.mkdtemp(prefix="cg-ws-rtt-"))
    procs = de.Procs(tmp)
    runs = {m: [] for m in modes}
    tunnels = {}
    try:
        envs = {}
        for kind in ("plain", "mtls"):
            if kind in modes or (kind == "plain" and "direct" in modes):
                (tmp / kind).mkdir()
                envs[kind] = de.Env(procs, tmp / kind, mtls=kind == "mtls").start_all()
        env_for = {"direct": envs.get("plain"), "plain": envs.get("plain"), "mtls": envs.get("mtls")}
        if args.warmup:
            for mode in modes:
                run_mode(env_for, mode, args, args.warmup)
        for i in range(args.rounds):
            order = modes if i % 2 == 0 else modes[::-1]
            for mode in order:
                r = run_mode(env_for, mode, args, args.duration)
                runs[mode].append(r)
                cpu = " ".join(f"{k}={r[k + '_us']:.1f}" for k in ("edge", "ingress", "app") if k + "_us" in r)
                print(f"round {i + 1} {mode:<7} sent={r['messages']} lost={r['lost']} "
                      f"p50={r['p50_ms']:.3f} p90={r['p90_ms']:.3f} p99={r['p99_ms']:.3f} "
                      f"max={r['max_ms']:.3f} ms | send lag p50={r['lag_p50_ms']:.3f} "
                      f"p99={r['lag_p99_ms']:.3f} ms, client CPU {r['client_cpu_pct']:.0f}% | "
                      f"CPU us/msg {cpu}" + (f" | errors {r['errors']}" if r["errors"] else ""),
                      flush=True)
        for kind, env in envs.items():
            tunnels[kind] = {"edge": upgrades(env.edge), "ingress-1": upgrades(env.ingress[1]),
                             "ingress-2": upgrades(env.ingress[2])}
    finally:
        crashed = procs.finalize()
        if crashed:
            print("\n".join(crashed) + f"\n(logs kept in {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)  # logs, configs and the mesh CA's keys
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "errors"} for m, rs in runs.items()}
    print(f"\nmedians over {args.rounds} rounds: {args.rate} msg/s open loop over {args.conns} "
          f"WebSocket connections, {args.size}-byte messages, {args.duration} s per run "
          "(latency from the due time; all on this machine):")
    print(f"{'':<16}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>6}"
          f"{'lag p99':>9}{'client':>8}{'edge':>7}{'ingress':>8}{'app':>6}  (CPU us/msg; client % of a core)")
    added = {}

    def row(name, x, sign=""):
        c = "" if sign else "".join(f"{x[k]:>{w}.1f}" if k in x else f"{'-':>{w}}"
                                    for k, w in (("edge_us", 7), ("ingress_us", 8), ("app_us", 6)))
        print(f"{name:<16}{x['p50_ms']:>{sign}9.3f}{x['p90_ms']:>{sign}9.3f}{x['p99_ms']:>{sign}9.3f}"
              f"{x['max_ms']:>{sign}9.3f}"
              + (f"{x['lost']:>6.0f}{x['lag_p99_ms']:>9.3f}{x['client_cpu_pct']:>7.0f}%" if not sign
                 else "") + c)

    for m in modes:
        row(m, med[m])
    base = "direct" if "direct" in modes else None
    for m, b in (("plain", base), ("mtls", base), ("mtls", "plain")):
        if m in med and b in med and m != b:
            added[f"{m}-{b}"] = {k: med[m][k] - med[b][k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}
            row(f"{m} - {b}", added[f"{m}-{b}"], "+")
    if tunnels:
        print("WebSocket tunnels spliced (warm-up included): " + "; ".join(
            f"{kind}: " + ", ".join(f"{g} {n}" for g, n in t.items()) for kind, t in tunnels.items()))
    worst = max(med[m]["client_cpu_pct"] for m in modes)
    lag = max(med[m]["lag_p99_ms"] for m in modes)
    if worst >= 90 or min(med[m]["sent_rate"] for m in modes) < 0.97 * args.rate:
        print(f"NOTE: the client is the bottleneck (CPU {worst:.0f}% of a core, sent "
              f"{min(med[m]['sent_rate'] for m in modes):.0f} msg/s of {args.rate}): try a lower --rate")
    else:
        print(f"client: at most {worst:.0f}% of a core, send lag p99 at most {lag:.3f} ms "
              "(counted in the latencies above, the same in every mode)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs, "medians": med,
                                               "added": added, "tunnels": tunnels}, indent=2,
                                              default=str))


if __name__ == "__main__":
    main()
