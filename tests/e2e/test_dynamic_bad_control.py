"""Dynamic mode against a control plane that misbehaves: a gateway keeps its last good snapshot,
serves with it and says so in its log.

The control plane here is a small fake written in Python (`FakeControl`): it speaks just enough
of docs/api.md (registration, heartbeat, snapshot watch) to hand the gateway one good snapshot,
then misbehaves: it answers the watch with a malformed snapshot, or it accepts connections and
never answers. Addresses 127.0.4x.y come from dynamic_env's block allocator.
"""

import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import pytest

from dynamic_env import (Gateway, HOSTNAME, free_port, next_block, procs, request_once,  # noqa: F401
                         tcp_connectable, wait_until)

INSTANCE_ID = "0123456789abcdef0123456789abcdef"
GOOD_BODY = "served by snapshot v1\n"


def good_snapshot(address, port, version=1, body=GOOD_BODY):
    """A minimal valid snapshot (docs/snapshot.md): one server, one direct-response rule."""
    return json.dumps({
        "version": version, "cluster": "cluster-1", "namespace": "bookinfo",
        "labels": {"app": "ingressgw-1"}, "address": address,
        "servers": [{"gateway": "fake", "name": "http", "port": port, "hostname": HOSTNAME,
                     "rules": [{"matches": [], "action": "direct",
                                "direct": {"status": 200, "body": body}, "timeout_ms": 15000}]}],
        "destinations": [], "warnings": []}).encode()


class FakeControl:
    """A threaded HTTP server playing the control plane.

    mode decides what the watch answers once the gateway holds version 1 (after=1):
      "garbage"  200 with body `bad` (a malformed snapshot)
      "hang"     every request (heartbeats, watches, registrations) is accepted and never answered
    Before that, registration and heartbeats answer 200 and the first watch (after=0) gets the
    good snapshot."""

    def __init__(self, host, gw_address, gw_port, bad=b"{", mode="garbage"):
        self.mode = mode
        self.bad = bad
        self.snapshot = good_snapshot(gw_address, gw_port)
        self.release = threading.Event()  # set at teardown: hung handlers return
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body=b"", ctype="application/json"):
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_one(self, method):
                try:
                    self.answer(method)
                except OSError:  # the gateway hung up (timeout, shutdown): nothing to say
                    self.close_connection = True

            def answer(self, method):
                u = urlparse(self.path)
                q = parse_qs(u.query)
                n = int(self.headers.get("content-length") or 0)
                if n:
                    self.rfile.read(n)
                with fake.lock:
                    fake.requests.append((time.monotonic(), method, u.path, q.get("after", [None])[0]))
                watch = method == "GET" and u.path.endswith("/snapshot")
                after = int(q.get("after", ["0"])[0]) if watch else None
                if fake.mode == "hang" and not (watch and after == 0) and fake.served_good():
                    fake.release.wait(60)  # accepted, never answered
                    self.close_connection = True
                    return
                if method == "POST" and u.path == "/v1/instances":
                    self.reply(200, json.dumps({"id": INSTANCE_ID, "heartbeat_ms": 1000, "ttl_ms": 3000}).encode())
                elif method == "PUT" and u.path.endswith("/heartbeat"):
                    self.reply(200, b"{}")
                elif watch and after == 0:
                    self.reply(200, fake.snapshot)
                elif watch:
                    self.reply(200, fake.bad)
                else:
                    self.reply(404, b"not found\n", "text/plain")

            def do_GET(self):
                self.handle_one("GET")

            def do_POST(self):
                self.handle_one("POST")

            def do_PUT(self):
                self.handle_one("PUT")

            def do_DELETE(self):
                self.handle_one("DELETE")

        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.server = Server((host, self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def served_good(self):
        with self.lock:
            return any(r[1] == "GET" and r[3] == "0" for r in self.requests)

    def watches_after(self, v):
        with self.lock:
            return sum(1 for r in self.requests if r[1] == "GET" and r[3] == str(v))

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def start_gateway(procs, tmp_path, mode, bad=b"{"):
    b = next_block()
    gw_addr = f"127.0.{b}.11"
    gw_port = free_port(gw_addr)
    fake = FakeControl(f"127.0.{b}.1", gw_addr, gw_port, bad=bad, mode=mode)
    procs.closers.append(fake.close)
    gw = Gateway(procs, "ingress-1", "cluster-1", "bookinfo", "app=ingressgw-1", gw_addr, fake.url).start()
    wait_until(lambda: gw.version() == 1, what="the gateway to apply the good snapshot v1")
    wait_until(lambda: tcp_connectable(gw_addr, gw_port), what="the snapshot's listener")
    return fake, gw, gw_port


def assert_serves_v1(gw, port):
    st, _, body = request_once(gw.address, port)
    assert (st, body.decode()) == (200, GOOD_BODY)
    assert gw.version() == 1
    assert gw.p.alive()


@pytest.mark.parametrize("bad", [
    pytest.param(b"{\"version\": 2, \"servers\": [", id="truncated-json"),
    pytest.param(b"\x00\xffnot json at all", id="binary-garbage"),
    pytest.param(b"[1, 2, 3]", id="not-an-object"),
    pytest.param(b"{\"version\": 2, \"servers\": [{\"port\": \"eighty\"}]}", id="wrong-schema"),
    pytest.param(b"{\"version\": 2, \"servers\": [{\"gateway\": \"g\", \"name\": \"s\", \"port\": 1, "
                 b"\"hostname\": \"*\", \"rules\": [{\"action\": \"route\", \"destination\": \"nowhere\"}]}],"
                 b" \"destinations\": []}", id="dangling-destination"),
])
def test_dynamic_malformed_snapshot_keeps_last_good_config_and_logs_it(procs, tmp_path, bad):
    fake, gw, port = start_gateway(procs, tmp_path, "garbage", bad=bad)
    assert_serves_v1(gw, port)
    wait_until(lambda: "invalid snapshot, keeping config v1" in gw.log(), what="'invalid snapshot' in the log")
    # it goes on serving v1, and does not hammer the control plane with watches while it does
    t0 = time.monotonic()
    n0 = fake.watches_after(1)
    for _ in range(20):
        assert_serves_v1(gw, port)
    wait_until(lambda: time.monotonic() - t0 >= 1.0, what="a second of serving")
    watches = fake.watches_after(1) - n0
    assert watches <= 20, f"{watches} watches in {time.monotonic() - t0:.1f}s against a control plane answering garbage"
    assert gw.log().count("invalid snapshot") <= 25, "the log is flooded"


def test_dynamic_control_plane_that_hangs_leaves_gateway_serving(procs, tmp_path):
    fake, gw, port = start_gateway(procs, tmp_path, "hang")
    assert_serves_v1(gw, port)
    # heartbeats now hang: the agent notices (heartbeat timeout) and says it keeps v1
    wait_until(lambda: "serving config v1 until it is back" in gw.log(), timeout=6,
               what="the gateway to log that it keeps serving v1")
    for _ in range(20):
        assert_serves_v1(gw, port)
    assert gw.ready()
