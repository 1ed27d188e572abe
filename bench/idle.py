#!/usr/bin/python3
"""Idle keep-alive connections: process memory per connection, and 100k on one gateway.

1. crossgate, HAProxy and nginx (1 worker / thread each), each a reverse proxy in front of the
   same backend nginx, with the configs of bench/run.sh (`bench/run.sh configs DIR`). Per round
   and per proxy (the order rotates each round), a fresh proxy process: start, warm up (WARM
   connections, 20 requests on each, left open), RSS of all its processes, then N new client
   connections that each send one request, read the answer and stay open, RSS again. Bytes
   per idle connection = RSS growth / N. Prints the medians over rounds and the ratios
   crossgate/HAProxy and crossgate/nginx.
2. One crossgate gateway: up to 100k idle connections from several source addresses in
   127.0.0.0/8 (~20k each), RSS growth per connection at each step, and the latency (p50/p99)
   of fresh requests (a new connection each) before and while they sit idle.

With --h2 (make bench-h2), part 1 only, over HTTP/2: the proxies listen with TLS and ALPN h2
(the configs of BENCH_MODE=h2), and each client connection is a TLS connection that negotiated
h2 and sent one request as a stream (python3-h2), then sits idle. A proxy that does not
negotiate h2 is skipped with the reason ("crossgate: no h2").

Clients open their connections WINDOW at a time (a window's requests are all sent, then all
answers read), so no proxy opens more upstream connections than during the warm-up. A
proxy's RSS is read once it has settled (polled until three reads 50 ms apart agree). Prints
figures, asserts nothing (a benchmark). Bounded in connections and time; every process it
starts is stopped by pid on exit.

    bench/idle.py [--conns 5000] [--rounds 3] [--big 100000] [--raise-hard-limit] [--json FILE]
    bench/idle.py --h2 --big 0 [--conns 5000] [--rounds 3]
"""

import argparse
import json
import os
import resource
import signal
import select
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_SH = REPO / "bench" / "run.sh"
BODY = b"hello world\n"
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
IP_BIND_ADDRESS_NO_PORT = 24     # linux/in.h: the port is picked at connect, per 4-tuple
LINGER0 = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT left behind
WARM_REQS = 20
FD_RESERVE = 64                  # crossgate's own (src/proxy/server.c)
SPARE = 16                       # connections beyond the idle + warm-up ones (fresh requests)
PROXY_NAMES = {"crossgate": "crossgate", "haproxy": "HAProxy", "nginx": "nginx"}
H2 = False                       # --h2: TLS + ALPN h2 connections, a stream per request


class H2Sock:
    """One client HTTP/2 connection over TLS (ALPN h2) on python3-h2: request() sends a GET as a
    new stream, read_answer() reads its response. Has the socket calls idle.py makes."""

    CTX = None

    def __init__(self, raw):
        import h2.config
        import h2.connection
        if H2Sock.CTX is None:
            H2Sock.CTX = ssl.create_default_context()
            H2Sock.CTX.check_hostname = False
            H2Sock.CTX.verify_mode = ssl.CERT_NONE  # the run's own self-signed certificate
            H2Sock.CTX.set_alpn_protocols(["h2"])
        self.sock = H2Sock.CTX.wrap_socket(raw, server_hostname="localhost")
        proto = self.sock.selected_alpn_protocol()
        if proto != "h2":
            self.sock.close()
            raise OSError(f"no h2 (ALPN gave {proto or 'nothing'})")
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())
        self.pending = []

    def request(self):
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                   (":authority", "bench"), (":path", "/")], end_stream=True)
        self.sock.sendall(self.h2.data_to_send())
        self.pending.append(sid)

    def read_answer(self):
        import h2.events
        sid = self.pending.pop(0)
        status, body = None, b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise OSError("connection closed before the answer")
            for ev in self.h2.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = dict(ev.headers).get(b":status")
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    body += ev.data
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    raise OSError(f"h2: {ev}")
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self.sock.sendall(self.h2.data_to_send())
                    if status != b"200" or body != BODY:
                        raise OSError(f"unexpected answer {status!r} {body[:40]!r}")
                    return
            out = self.h2.data_to_send()
            if out:
                self.sock.sendall(out)

    def still_open(self):
        """No EOF, no GOAWAY; frames that came meanwhile (PING, SETTINGS) are answered."""
        try:
            # poll, not select: descriptors go past FD_SETSIZE here
            while self.sock.pending() or self._readable():
                data = self.sock.recv(65536)
                if not data:
                    return False
                for ev in self.h2.receive_data(data):
                    if ev.__class__.__name__ == "ConnectionTerminated":
                        return False
                self.sock.sendall(self.h2.data_to_send())
        except (OSError, ssl.SSLError):
            return False
        return True

    def _readable(self):
        p = select.poll()
        p.register(self.sock.fileno(), select.POLLIN)
        return bool(p.poll(0))

    def setsockopt(self, *a):
        self.sock.setsockopt(*a)

    def close(self):
        self.sock.close()


def send_request(s):
    if isinstance(s, H2Sock):
        s.request()
    else:
        s.sendall(REQUEST)


class Bench:
    def __init__(self, args):
        self.args = args
        self.started = []        # Popen of every server started
        self.deadline = time.monotonic() + args.max_seconds

    # ---- processes --------------------------------------------------------------------
    def configs(self, d, proxies, max_conns):
        env = dict(os.environ, BENCH_PROXIES=" ".join(proxies), BENCH_MAX_CONNS=str(max_conns),
                   BENCH_KEEPALIVE_TIMEOUT=str(self.args.keepalive_timeout),
                   BENCH_PORT_BASE=str(self.args.port_base),
                   BENCH_MODE="h2" if self.args.h2 else "plain")
        r = subprocess.run(["bash", str(RUN_SH), "configs", str(d)], env=env, text=True,
                           capture_output=True, timeout=60)
        if r.returncode:
            sys.exit(f"idle: bench/run.sh configs failed: {r.stderr.strip()}")
        if r.stderr.strip():
            print(r.stderr.strip())      # SKIP lines
        out = {}
        for line in r.stdout.splitlines():
            role, port, log, *cmd = line.split("\t")
            out[role] = {"port": int(port), "log": log, "cmd": cmd, "dir": str(d)}
        return out

    def start(self, name, spec):
        log = open(spec["log"], "ab")
        p = subprocess.Popen(spec["cmd"], cwd=spec["dir"], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started.append(p)
        # the backend speaks plain HTTP/1.1 in every mode
        why = wait_ready(p, spec["port"], self.args.ready_timeout,
                         False if name == "backend" else None)
        if why:
            self.stop(p)
            tail = Path(spec["log"]).read_text(errors="replace").strip().splitlines()[-3:]
            err = Path(spec["dir"]) / name / "error.log"
            if err.exists():
                tail += err.read_text(errors="replace").strip().splitlines()[-3:]
            print(f"SKIP {name}: {why}" + "".join(f"\n    | {t}" for t in tail))
            return None
        return p

    def stop(self, p):
        pids = descendants(p.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 5
        while p.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()
        if p in self.started:
            self.started.remove(p)

    def stop_all(self):
        for p in list(self.started):
            self.stop(p)

    def out_of_time(self):
        return time.monotonic() > self.deadline


def descendants(pid):
    """pid and all its descendants (nginx: master and worker)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def rss_kb(pid):
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def settled_rss_kb(pid, timeout=3.0):
    """RSS once three reads 50 ms apart agree (or the last read at the deadline)."""
    end = time.monotonic() + timeout
    last, same = rss_kb(pid), 0
    while same < 2 and time.monotonic() < end:
        time.sleep(0.05)
        now = rss_kb(pid)
        same = same + 1 if now == last else 0
        last = now
    return last


def read_answer(s):
    if isinstance(s, H2Sock):
        return s.read_answer()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed before the answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed in the body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200") or body != BODY:
        raise OSError(f"unexpected answer {head.splitlines()[0]!r} {body[:40]!r}")


def connect(port, src, timeout=10, h2=None):
    """A connection from src to the proxy; h2 (default: --h2) makes it TLS with ALPN h2."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    if H2 if h2 is None else h2:
        try:
            return H2Sock(s)
        except (OSError, ssl.SSLError) as e:
            s.close()
            raise OSError(str(e)) from e
    return s


def close_all(socks):
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        except OSError:
            pass
        s.close()
    socks.clear()


def wait_ready(p, port, timeout, h2=None):
    end = time.monotonic() + timeout
    while True:
        if p.poll() is not None:
            return f"process exited during startup (status {p.returncode})"
        try:
            s = connect(port, "127.0.0.1", 1, h2)
            send_request(s)
            read_answer(s)
            close_all([s])
            return None
        except OSError as e:
            if str(e).startswith("no h2"):
                return str(e)
        if time.monotonic() > end:
            return f"not answering 200 on 127.0.0.1:{port} after {timeout}s"
        time.sleep(0.05)


def open_idle(bench, port, n, sources, per_source, window, socks):
    """Open n connections (window at a time: connect + send all, then read all), appended to
    socks; sources[i] serves connections i*per_source... Returns (opened, why-stopped)."""
    opened = 0
    while opened < n:
        if bench.out_of_time():
            return opened, f"time bound ({bench.args.max_seconds}s) reached"
        batch = []
        try:
            for _ in range(min(window, n - opened)):
                s = connect(port, sources[(len(socks) + len(batch)) // per_source])
                batch.append(s)
                send_request(s)
            for s in batch:
                read_answer(s)
        except OSError as e:
            close_all(batch)
            return opened, f"connection {len(socks) + len(batch)}: {e}"
        socks += batch
        opened += len(batch)
    return opened, None


def still_open(socks):
    """How many of the connections are still open (no EOF, no error, nothing unread)."""
    ok = 0
    for s in socks:
        if isinstance(s, H2Sock):
            ok += s.still_open()
            continue
        t = s.gettimeout()
        s.settimeout(0)         # a socket with a timeout would wait for data
        try:
            if s.recv(1, socket.MSG_PEEK):
                continue        # unexpected bytes
        except BlockingIOError:
            ok += 1
        except OSError:
            pass
        finally:
            s.settimeout(t)
    return ok


def warm_up(bench, port, src):
    socks = []
    got, why = open_idle(bench, port, bench.args.warm, [src], 1 << 30, bench.args.warm, socks)
    if why:
        raise OSError(f"warm-up: {why}")
    for _ in range(WARM_REQS - 1):
        for s in socks:
            send_request(s)
        for s in socks:
            read_answer(s)
    return socks


def fresh_latency(port, src, count):
    """ms per fresh request: connect, send, read the answer (then close)."""
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        s = connect(port, src)
        send_request(s)
        read_answer(s)
        out.append((time.perf_counter() - t0) * 1e3)
        close_all([s])
    return out


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def sources(block, count):
    return [f"127.0.{block}.{i + 1}" for i in range(count)]


def cg_active(admin_port):
    try:
        s = connect(admin_port, "127.0.0.1", 2)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("crossgate_downstream_cx_active"):
                return int(float(line.split()[-1]))
    except (OSError, ValueError):
        pass
    return None


# ---- the file descriptor limit ---------------------------------------------------------------
def size_nofile(args, big):
    """Raise our soft RLIMIT_NOFILE to the hard limit (children inherit it); with
    --raise-hard-limit (root) the hard one too, to fit `big`. Returns (limit, note)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * (big + args.warm + SPARE) + FD_RESERVE
    note = None
    if hard < want and args.raise_hard_limit:
        nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        new = min(want, nr_open)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, new))
            note = f"hard RLIMIT_NOFILE raised {hard} -> {new} for this run (--raise-hard-limit)"
            soft = hard = new
        except (ValueError, OSError) as e:
            note = f"could not raise the hard RLIMIT_NOFILE {hard} -> {new}: {e}"
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard, note


def mem_available_kb():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


# ---- part 1 ----------------------------------------------------------------------------------
def part1(bench, specs, proxies):
    a = bench.args
    runs = {p: [] for p in proxies}
    active = [p for p in proxies if p in specs]
    for r in range(a.rounds):
        order = active[r % len(active):] + active[:r % len(active)] if active else []
        for name in order:
            spec = specs[name]
            p = bench.start(name, spec)
            if p is None:
                continue
            socks, warm = [], []
            try:
                warm += warm_up(bench, spec["port"], "127.0.9.1")
                r0 = settled_rss_kb(p.pid)
                src = sources(10 + r, -(-a.conns // a.per_source))
                got, why = open_idle(bench, spec["port"], a.conns, src, a.per_source, a.window, socks)
                r1 = settled_rss_kb(p.pid)
                alive = still_open(socks)
                nproc = len(descendants(p.pid))
            except OSError as e:
                print(f"   round {r + 1} {name}: {e}")
                continue
            finally:
                close_all(socks)
                close_all(warm)
                bench.stop(p)
            if got == 0:
                print(f"   round {r + 1} {name}: no connection opened: {why}")
                continue
            per = (r1 - r0) * 1024 / got
            runs[name].append({"conns": got, "open_at_end": alive, "rss_before_kb": r0,
                               "rss_after_kb": r1, "bytes_per_conn": per, "processes": nproc,
                               "stopped_early": why})
            print(f"   round {r + 1} {name:<9} {got} conns ({alive} still open), RSS "
                  f"{r0} -> {r1} kB over {nproc} process(es): {per:,.0f} bytes/conn"
                  + (f"  [stopped early: {why}]" if why else ""), flush=True)
    return runs


def summary1(runs, args):
    med = {p: statistics.median(x["bytes_per_conn"] for x in rs) for p, rs in runs.items() if rs}
    print(f"\n== idle {'HTTP/2 (TLS, ALPN h2)' if args.h2 else 'keep-alive'} connections: "
          f"median of {args.rounds} round(s), "
          f"{args.conns} connections each (+{args.warm} warm-up ones in the baseline) ==")
    print(f"{'proxy':<11}{'bytes/conn':>12}{'min-max':>20}   processes")
    for p, rs in runs.items():
        if not rs:
            print(f"{p:<11}{'skipped':>12}")
            continue
        xs = [x["bytes_per_conn"] for x in rs]
        print(f"{p:<11}{med[p]:>12,.0f}{f'{min(xs):,.0f}-{max(xs):,.0f}':>20}   {rs[0]['processes']}")
    ratios = {}
    if "crossgate" in med:
        print()
        for peer in ("haproxy", "nginx"):
            if peer in med and med[peer] > 0:
                ratios[f"crossgate/{peer}"] = med["crossgate"] / med[peer]
                print(f"crossgate/{peer:<8} {ratios[f'crossgate/{peer}']:.3f}   "
                      f"({PROXY_NAMES[peer]} holds {med[peer] / max(med['crossgate'], 1):.1f}x "
                      "crossgate's memory per idle connection)")
    return med, ratios


# ---- part 2 ----------------------------------------------------------------------------------
def part2(bench, spec, target, limit_note, hard):
    a = bench.args
    # what the limits allow: crossgate needs 2 descriptors per connection it may hold (+ its
    # reserve); we need one per client socket; the kernel and Python ~16 kB per connection.
    by_fd = min((hard - FD_RESERVE) // 2 - a.warm - SPARE, hard - a.warm - 300)
    by_mem = mem_available_kb() // 16
    reach, why_short = target, None
    if by_fd < reach:
        reach = max(by_fd, 0)
        why_short = (f"RLIMIT_NOFILE hard limit {hard}: crossgate sizes for 2 descriptors per "
                     f"connection (+{FD_RESERVE}), so one gateway holds at most "
                     f"{(hard - FD_RESERVE) // 2}, {reach} idle ones besides the warm-up and "
                     "fresh ones"
                     + ("" if a.raise_hard_limit else
                        "; raise `ulimit -Hn`, or --raise-hard-limit (needs CAP_SYS_RESOURCE)"))
    if by_mem < reach:
        reach, why_short = by_mem, f"MemAvailable {mem_available_kb()} kB: ~16 kB per connection"
    if limit_note:
        print(f"   {limit_note}")
    if reach < target:
        print(f"   going to {reach} instead of {target}: {why_short}")
    p = bench.start("crossgate", spec)
    if p is None:
        return None
    admin = a.port_base + 11
    socks, warm = [], []
    res = {"target": target, "reachable": reach, "why_short": why_short, "steps": []}
    try:
        warm += warm_up(bench, spec["port"], "127.0.9.1")
        res["fresh_before_ms"] = lat0 = fresh_latency(spec["port"], "127.0.30.1", a.fresh)
        r0 = settled_rss_kb(p.pid)
        res["rss_before_kb"] = r0
        nsrc = -(-reach // a.per_source)
        src = sources(20, nsrc)
        res["sources"] = f"{src[0]}..{src[-1]}" if src else ""
        t0 = time.monotonic()
        stopped = None
        while len(socks) < reach and not stopped:
            step = min(a.per_source, reach - len(socks))
            got, stopped = open_idle(bench, spec["port"], step, src, a.per_source, a.window, socks)
            r1 = settled_rss_kb(p.pid)
            n = len(socks)
            if n:
                per = (r1 - r0) * 1024 / n
                res["steps"].append({"conns": n, "rss_kb": r1, "bytes_per_conn": per,
                                     "elapsed_s": time.monotonic() - t0})
                print(f"   {n:>7} idle: RSS {r0} -> {r1} kB, {per:,.0f} bytes/conn "
                      f"({time.monotonic() - t0:.1f} s)", flush=True)
        res["stopped"] = stopped
        if stopped:
            print(f"   stopped at {len(socks)}: {stopped}")
        res["fresh_during_ms"] = lat1 = fresh_latency(spec["port"], "127.0.30.2", a.fresh)
        res["open_at_end"] = still_open(socks)
        res["crossgate_cx_active"] = cg_active(admin)
        res["rss_after_kb"] = settled_rss_kb(p.pid)
        res["proxy_log_warnings"] = [ln for ln in Path(spec["log"]).read_text(errors="replace")
                                     .splitlines() if "connections" in ln][-3:]
        print(f"   fresh requests ({a.fresh}, a new connection each) before: p50 "
              f"{pct(lat0, .5):.3f} ms p99 {pct(lat0, .99):.3f} ms; with {len(socks)} idle: "
              f"p50 {pct(lat1, .5):.3f} ms p99 {pct(lat1, .99):.3f} ms")
        print(f"   still open at the end: {res['open_at_end']}/{len(socks)} (client side); "
              f"crossgate_downstream_cx_active {res['crossgate_cx_active']} "
              f"(incl. {a.warm} warm-up connections)")
        for ln in res["proxy_log_warnings"]:
            print(f"   crossgate log: {ln}")
    finally:
        close_all(socks)
        close_all(warm)
        bench.stop(p)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=5000, help="idle connections per proxy (part 1)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--proxies", default="crossgate haproxy nginx")
    ap.add_argument("--big", type=int, default=100000,
                    help="idle connections on one crossgate (part 2); 0 skips part 2")
    ap.add_argument("--per-source", type=int, default=20000, help="connections per source address")
    ap.add_argument("--fresh", type=int, default=200, help="fresh requests timed in part 2")
    ap.add_argument("--warm", type=int, default=50, help="warm-up connections (kept open)")
    ap.add_argument("--window", type=int, default=50, help="connections opened at a time")
    ap.add_argument("--raise-hard-limit", action="store_true",
                    help="root: raise the hard RLIMIT_NOFILE of this run to fit --big")
    ap.add_argument("--keepalive-timeout", type=int, default=600, help="s, all proxies")
    ap.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE", 19180)))
    ap.add_argument("--ready-timeout", type=float, default=10)
    ap.add_argument("--max-seconds", type=int, default=900, help="bound on the whole run")
    ap.add_argument("--h2", action="store_true",
                    help="HTTP/2 over TLS (ALPN h2) connections; part 1 only (--big 0)")
    ap.add_argument("--json", default=None,
                    help="default bench/out/idle.json (--h2: bench/out/idle-h2.json)")
    a = ap.parse_args()
    if a.json is None:
        a.json = str(REPO / "bench" / "out" / ("idle-h2.json" if a.h2 else "idle.json"))
    if a.h2:
        if a.big:
            sys.exit("idle: --h2 measures part 1 only: add --big 0")
        global H2
        H2 = True
    if min(a.conns, a.rounds, a.per_source, a.window, a.warm, a.fresh) < 1 or a.big < 0:
        sys.exit("idle: --conns, --rounds, --per-source, --window, --warm, --fresh must be >= 1")
    if a.per_source > 28000:
        sys.exit("idle: --per-source must be <= 28000 (ephemeral ports per source address)")
    proxies = a.proxies.split()
    for p in proxies:
        if p not in PROXY_NAMES:
            sys.exit(f"idle: unknown proxy {p!r} (crossgate, haproxy, nginx)")
    for port in (a.port_base, a.port_base + 1, a.port_base + 2, a.port_base + 3, a.port_base + 11):
        try:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
                s.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"idle: port 127.0.0.1:{port} is in use (--port-base moves them all)")

    hard, limit_note = size_nofile(a, max(a.big, a.conns))
    need1 = 2 * (a.conns + a.warm + SPARE) + FD_RESERVE     # crossgate's sizing
    if hard < need1:
        sys.exit(f"idle: --conns {a.conns} needs RLIMIT_NOFILE {need1} (crossgate sizes 2 "
                 f"descriptors per connection), the hard limit is {hard}: at most --conns "
                 f"{(hard - FD_RESERVE) // 2 - a.warm - SPARE} here")

    bench = Bench(a)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    tmp = Path(tempfile.mkdtemp(prefix="crossgate-idle-"))
    result = {"args": vars(a), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "rlimit_nofile": hard, "rlimit_note": limit_note,
              "loadavg": open("/proc/loadavg").read().split()[:3],
              "versions": [subprocess.run([b, "-v"], capture_output=True, text=True).stdout
                           .splitlines()[0] for b in ("/usr/sbin/haproxy",)]
              + [subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True)
                 .stderr.strip()]}
    try:
        (tmp / "p1").mkdir()
        specs = bench.configs(tmp / "p1", proxies, a.conns + a.warm + SPARE)
        print(f"crossgate idle bench: {a.rounds} round(s) x {a.conns} idle "
              f"{'HTTP/2 (TLS, ALPN h2)' if a.h2 else 'keep-alive'} connections "
              f"per proxy; 1 worker/thread each, proxying to the backend nginx on "
              f"127.0.0.1:{specs['backend']['port']}; RLIMIT_NOFILE {hard}; load average "
              f"{' '.join(result['loadavg'])}")
        backend = bench.start("backend", specs["backend"])
        if backend is None:
            sys.exit("idle: the backend nginx did not start")
        result["part1"] = runs = part1(bench, specs, proxies)
        result["medians"], result["ratios"] = summary1(runs, a)
        if a.big:
            print(f"\n== {a.big} idle connections on one crossgate gateway (1 worker) ==")
            (tmp / "p2").mkdir()
            reach = min(a.big, max((hard - FD_RESERVE) // 2 - a.warm - SPARE, 1))
            spec2 = bench.configs(tmp / "p2", ["crossgate"], reach + a.warm + SPARE).get("crossgate")
            if spec2:
                result["part2"] = part2(bench, spec2, a.big, limit_note, hard)
    finally:
        bench.stop_all()
        subprocess.run(["rm", "-rf", str(tmp)])
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(result, indent=2))
    print(f"\nraw figures: {a.json}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("\nidle: interrupted")
