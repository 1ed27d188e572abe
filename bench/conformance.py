#!/usr/bin/python3
"""Side-by-side HTTP/1.1 conformance report: crossgate, HAProxy and nginx on the same cases.

Replays tests/conformance/requests.txt and responses.txt (the data behind
tests/e2e/test_conformance.py) through each proxy, configured as a plain reverse proxy in
front of the same recording upstream (request cases) and scripted upstream (response cases),
HTTP/1.1 with keep-alive to the upstream. Everything runs on 127.0.0.1, ephemeral ports; the
proxies' configs go to a temp dir; each proxy is started, and stopped, by its pid.

Prints, per case, each proxy's verdict: the class of what it did (reject, accept = forwarded
unchanged, normalise = forwarded rewritten) when that meets the case's expectation, else
FAIL:<reason>; then a score line per proxy, and the cases HAProxy rejects or normalises that
crossgate accepts unchanged (that list should be empty). Cases marked crossgate-only (headers
crossgate adds) are not judged for the peers ("-").

A report, not a test: exits 0 whatever the verdicts (non-zero only if it cannot run at all).
Every socket operation has a timeout.

  bench/conformance.py [--proxies crossgate,haproxy,nginx] [--only SUBSTRING] [-v] [--keep-tmp]
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "conformance"))
import harness  # noqa: E402

HOST = "127.0.0.1"
READY_DEADLINE = 10.0
STOP_GRACE = 5.0


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tcp_ok(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- proxy configs

def crossgate_conf(d, req, resp, rec, scr):
    path = os.path.join(d, "crossgate.yaml")
    with open(path, "w") as f:
        f.write(f"""apiVersion: crossgate/v1
kind: Service
metadata: {{name: recorder, namespace: bench, cluster: bench}}
spec:
  hostname: recorder.bench.svc
  endpoints: [{{address: {HOST}, port: {rec}}}]
---
apiVersion: crossgate/v1
kind: Service
metadata: {{name: scripted, namespace: bench, cluster: bench}}
spec:
  hostname: scripted.bench.svc
  endpoints: [{{address: {HOST}, port: {scr}}}]
---
apiVersion: crossgate/v1
kind: Gateway
metadata: {{name: bench, namespace: bench}}
spec:
  workloadSelector: {{namespace: bench, labels: {{app: bench}}}}
  http:
  - name: requests
    port: {req}
    hostname: "*"
    routing:
      rules:
      - route:
          serviceDestination: {{host: bench/recorder.bench.svc, port: {rec}}}
  - name: responses
    port: {resp}
    hostname: "*"
    routing:
      rules:
      - route:
          serviceDestination: {{host: bench/scripted.bench.svc, port: {scr}}}
""")
    binary = os.environ.get("CROSSGATE_BIN", os.path.join(ROOT, "build", "crossgate"))
    return [binary, "gateway", "--cluster", "bench", "--namespace", "bench", "--label", "app=bench",
            "--address", HOST, "--admin", "off", "--workers", "1", "--access-log", "off",
            "-f", path]


def haproxy_conf(d, req, resp, rec, scr):
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(f"""global
    nbthread 1
defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 10s
    timeout server 1s
    timeout http-request 5s
frontend requests
    bind {HOST}:{req}
    default_backend recorder
frontend responses
    bind {HOST}:{resp}
    default_backend scripted
backend recorder
    http-reuse safe
    server s1 {HOST}:{rec}
backend scripted
    http-reuse safe
    server s1 {HOST}:{scr}
""")
    return [os.environ.get("HAPROXY_BIN", "/usr/sbin/haproxy"), "-f", path, "-db"]


def nginx_conf(d, req, resp, rec, scr):
    nd = os.path.join(d, "nginx")
    os.makedirs(os.path.join(nd, "tmp"), exist_ok=True)
    path = os.path.join(nd, "nginx.conf")
    loc = """        location / {{
            proxy_pass http://{up};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_read_timeout 1s;
        }}"""
    with open(path, "w") as f:
        f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {nd}/nginx.pid;
error_log {nd}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {nd}/tmp/body;
    proxy_temp_path {nd}/tmp/proxy;
    fastcgi_temp_path {nd}/tmp/fastcgi;
    uwsgi_temp_path {nd}/tmp/uwsgi;
    scgi_temp_path {nd}/tmp/scgi;
    upstream recorder {{ server {HOST}:{rec}; keepalive 16; }}
    upstream scripted {{ server {HOST}:{scr}; keepalive 16; }}
    server {{
        listen {HOST}:{req};
{loc.format(up="recorder")}
    }}
    server {{
        listen {HOST}:{resp};
{loc.format(up="scripted")}
    }}
}}
""")
    return [os.environ.get("NGINX_BIN", "/usr/sbin/nginx"), "-p", nd, "-c", path]


CONFS = {"crossgate": crossgate_conf, "haproxy": haproxy_conf, "nginx": nginx_conf}


class Running:
    def __init__(self, name, argv, d):
        self.name = name
        self.log_path = os.path.join(d, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        """SIGTERM to the pid we started, SIGKILL after a grace period."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(STOP_GRACE)
        self.log.close()

    def tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-600:].decode(errors="replace")
        except OSError:
            return ""


def start(name, d, recorder, scripted):
    req, resp = free_port(), free_port()
    argv = CONFS[name](d, req, resp, recorder.port, scripted.port)
    if not os.path.exists(argv[0]):
        return None, None, f"{argv[0]} not found"
    r = Running(name, argv, d)
    proxy = harness.Proxy(name, HOST, req, resp, source=HOST)
    end = time.monotonic() + READY_DEADLINE
    while True:  # ready = both ports accept and a request reaches the recording upstream
        if r.p.poll() is not None:
            return r, None, f"exited with {r.p.returncode}: {r.tail()}"
        if tcp_ok(req) and tcp_ok(resp):
            _, err = harness.barrier(proxy, recorder)
            if err is None:
                return r, proxy, None
        if time.monotonic() > end:
            return r, None, f"not ready after {READY_DEADLINE}s: {r.tail()}"
        time.sleep(0.05)  # polling interval of a deadline-bounded readiness wait


# ---------------------------------------------------------------- report

def clip(s, n):
    return s if len(s) <= n else s[:n - 1] + "…"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxies", default="crossgate,haproxy,nginx")
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="full FAIL reasons after the table")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--width", type=int, default=34, help="verdict column width")
    args = ap.parse_args()
    names = [p for p in args.proxies.split(",") if p]
    for n in names:
        if n not in CONFS:
            ap.error(f"unknown proxy {n!r} (crossgate, haproxy, nginx)")

    cases = ([("request", c) for c in harness.load_cases(harness.REQUESTS_FILE)] +
             [("response", c) for c in harness.load_cases(harness.RESPONSES_FILE)])
    cases = [(k, c) for k, c in cases if args.only in c.name]

    d = tempfile.mkdtemp(prefix="crossgate-conformance.")
    recorder = harness.RecordingUpstream(HOST)
    scripted = harness.ScriptedUpstream(HOST)
    results = {}  # proxy -> {(kind, name): Verdict or None}
    skipped = {}
    try:
        for n in names:
            r, proxy, err = start(n, d, recorder, scripted)
            if err:
                skipped[n] = err
                print(f"SKIP {n}: {err}", flush=True)
                if r:
                    r.stop()
                continue
            res = results[n] = {}
            t0 = time.monotonic()
            try:
                for kind, c in cases:
                    if c.crossgate_only and n != "crossgate":
                        res[(kind, c.name)] = None
                        continue
                    if kind == "request":
                        out = harness.run_request_case(c, proxy, recorder)
                        v = harness.judge_request(c, out, peer=HOST)
                    else:
                        out = harness.run_response_case(c, proxy, scripted)
                        v = harness.judge_response(c, out)
                    res[(kind, c.name)] = v
            finally:
                alive = r.p.poll() is None
                r.stop()
            print(f"ran {len(cases)} cases through {n} in {time.monotonic() - t0:.1f}s"
                  f"{'' if alive else ' (it died during the run: ' + r.tail() + ')'}", flush=True)
    finally:
        recorder.close()
        scripted.close()
        if args.keep_tmp:
            print(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)

    shown = [n for n in names if n in results]
    w = args.width
    namew = max([len(f"{k[:3]}/{c.name}") for k, c in cases] + [4])
    print()
    print(f"{'case':<{namew}}  {'expect':<10}" + "".join(f"  {n:<{w}}" for n in shown))
    for kind, c in cases:
        exp = "reject " + ("close" if c.close else str(c.status)) if c.expect == "reject" else c.expect
        row = f"{kind[:3]}/{c.name:<{namew - 4}}  {exp:<10}"
        for n in shown:
            v = results[n][(kind, c.name)]
            row += f"  {clip('-' if v is None else v.label(), w):<{w}}"
        print(row)

    print()
    for n in shown:
        judged = [v for v in results[n].values() if v is not None]
        passes = sum(v.ok for v in judged)
        rn = sum(v.cls in ("reject", "normalise") for v in judged)
        print(f"{n:<10} passes {passes}/{len(judged)}, rejected-or-normalised {rn}")
    for n, err in skipped.items():
        print(f"{n:<10} skipped: {err}")

    if "haproxy" in results and "crossgate" in results:
        lenient = [f"{k[:3]}/{c.name}" for k, c in cases
                   if results["haproxy"][(k, c.name)] is not None
                   and results["haproxy"][(k, c.name)].cls in ("reject", "normalise")
                   and results["crossgate"][(k, c.name)].cls == "accept"]
        print()
        print("cases HAProxy rejects or normalises that crossgate accepts unchanged "
              f"(should be empty): {len(lenient)}")
        for x in lenient:
            print(f"  {x}")

    if args.verbose:
        print()
        for n in shown:
            for kind, c in cases:
                v = results[n][(kind, c.name)]
                if v is not None and not v.ok:
                    print(f"{n} {kind}/{c.name}: {v.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
