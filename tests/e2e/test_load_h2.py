"""`crossgate load --http2`: prior-knowledge h2c against real HTTP/2 servers.

nginx (`listen ... http2`, cleartext: h2c with prior knowledge) shows that every stream is counted
and classified as on HTTP/1.1 (status, cluster, failed requests); a small server on python3-h2,
a real HTTP/2 implementation, resets streams, sends GOAWAY and breaks the protocol on request,
and each of those is a failure with its own reason.

Address block: 127.0.87.0/24.
"""

import json
import shutil
import socket
import subprocess
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest

from support import BIN, free_port, tcp_connectable, wait_until

NET = "127.0.87"

NGINX_CONF = """daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d};
  keepalive_requests 100000;
  server {{
    listen {addr} http2;
    location / {{ add_header x-app-cluster nginx-h2 always; return 200 "ok\\n"; }}
    location /down {{ return 503 "down\\n"; }}
  }}
}}
"""


def load(*args, timeout=60):
    """Runs `crossgate load ... --json - -q`; returns the JSON report."""
    r = subprocess.run([BIN, "load", *args, "--json", "-", "-q"], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def nginx(procs, tmp_path):
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed (scripts/deps.sh installs nginx-light)")
    host = f"{NET}.1"
    port = free_port(host)
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(d=tmp_path, addr=f"{host}:{port}"))
    p = procs.spawn(["nginx", "-c", str(conf), "-p", str(tmp_path)], "nginx")
    wait_until(lambda: p.check_alive() and tcp_connectable(host, port), what="nginx h2c")
    return f"http://{host}:{port}"


def test_load_http2_counts_every_stream_like_http1(nginx):
    r = load("--http2", "--streams", "8", "-c", "2", "-n", "400", f"{nginx}/")
    assert r["protocol"] == "h2c" and r["streams"] == 8
    assert r["requests"] == 400 and r["failed_requests"] == 0, r
    assert r["status"] == {"200": 400}
    assert r["requests_per_cluster"] == {"nginx-h2": 400}
    assert r["connects"] == 2  # 8 streams at a time on each of the 2 connections
    assert r["latency_ms"]["max"] is not None and sum(e for e in r["errors"].values()) == 0
    assert sum(sum(b["status"].values()) for b in r["timeline"]) == 400

    down = load("--http2", "--streams", "4", "-n", "100", f"{nginx}/down")
    assert down["requests"] == 100 and down["failed_requests"] == 100  # 5xx fail, as on HTTP/1.1
    assert down["status"] == {"503": 100} and down["requests_per_cluster"] == {"-": 100}


def test_load_http2_open_loop_spreads_streams(nginx):
    r = load("--http2", "--streams", "4", "-c", "2", "--rate", "400", "-d", "1s", f"{nginx}/")
    assert r["mode"] == "open" and r["failed_requests"] == 0, r
    assert 390 <= r["requests"] <= 400 and r["status"] == {"200": r["requests"]}
    assert r["send_lag_ms"]["p50"] is not None


class H2Faults:
    """An HTTP/2 server on python3-h2, one thread per connection. / answers 200; /rst resets
    every stream (INTERNAL_ERROR); /goaway answers the first stream of a connection, then sends
    GOAWAY with that stream as the last one and closes; /proto sends a DATA frame on stream 0
    (a connection error, RFC 9113 6.1)."""

    def __init__(self, host):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, 0))
        self.ls.listen(64)
        self.url = f"http://{host}:{self.ls.getsockname()[1]}"
        self.closed = False
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(s)
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        c.initiate_connection()
        try:
            s.sendall(c.data_to_send())
            while True:
                data = s.recv(65536)
                if not data:
                    return
                for ev in c.receive_data(data):
                    if not isinstance(ev, h2.events.RequestReceived):
                        continue
                    path = dict(ev.headers)[b":path"]
                    if path == b"/rst":
                        c.reset_stream(ev.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                    elif path == b"/proto":
                        s.sendall(c.data_to_send())
                        s.sendall(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA, stream 0
                    else:
                        c.send_headers(ev.stream_id, [(":status", "200"), ("content-length", "3"),
                                                      ("x-app-cluster", "h2-faults")])
                        c.send_data(ev.stream_id, b"ok\n", end_stream=True)
                        if path == b"/goaway":
                            c.close_connection(last_stream_id=ev.stream_id)
                            s.sendall(c.data_to_send())
                            return
                s.sendall(c.data_to_send())
        except Exception:
            return
        finally:
            s.close()

    def close(self):
        self.closed = True
        self.ls.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def faults(procs):
    srv = H2Faults(f"{NET}.2")
    procs.closers.append(srv.close)
    return srv


def test_load_http2_counts_rst_stream_as_failure(faults):
    r = load("--http2", "--streams", "4", "-n", "40", f"{faults.url}/rst")
    assert r["requests"] == 40 and r["failed_requests"] == 40, r
    assert r["errors"]["rst_stream"] == 40 and r["status"] == {"0": 40}
    assert r["connects"] == 1  # a reset stream leaves the connection up


def test_load_http2_counts_streams_refused_by_goaway(faults):
    # 4 streams go out together; the server answers its first and refuses the rest by GOAWAY
    r = load("--http2", "--streams", "4", "-n", "40", f"{faults.url}/goaway")
    ok, refused = r["status"].get("200", 0), r["errors"]["goaway"]
    assert r["requests"] == 40 and ok >= 1 and refused >= 1, r
    assert ok + refused == 40 and r["failed_requests"] == refused
    assert r["connects"] >= ok  # each GOAWAY ends its connection: the next request reconnects
    assert r["requests_per_cluster"] == {"h2-faults": ok}


def test_load_http2_counts_protocol_errors(faults):
    r = load("--http2", "-n", "10", f"{faults.url}/proto")
    assert r["requests"] == 10 and r["failed_requests"] == 10, r
    assert r["errors"]["protocol"] == 10


def test_load_http2_against_http1_server_is_a_failure_not_a_hang(procs):
    app = procs.app(f"{NET}.3", "c-h1")
    r = load("--http2", "-n", "5", "--timeout", "2s", f"http://{app.host}:{app.port}/")
    assert r["requests"] == 5 and r["failed_requests"] == 5, r
    assert r["status"] == {"0": 5}
