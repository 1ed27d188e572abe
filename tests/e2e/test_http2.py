"""HTTP/2 from clients (RFC 9113): ALPN h2 on TLS listeners and the prior-knowledge preface on
cleartext ones, one port serving HTTP/1.1 and HTTP/2 alike; each stream an exchange of its own
sent upstream over HTTP/1.1, with retries and one access-log line per stream; the §8 translation
(:authority for Host, cookies joined, te); flow control both ways; GOAWAY on drain; the limits
advertised in SETTINGS.

Real clients: curl (--http2, --http2-prior-knowledge), nghttp, and Python's h2 (Debian
python3-h2) for what needs frames. The adversarial cases are in test_http2_attacks.py.
Addresses: 127.0.75.0/24. Nothing waits with a bare sleep.
"""

import select
import signal
import socket
import subprocess

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from conftest import Metrics, free_port, gateway_doc, server, service_doc, to_service, uri, \
    wait_until, yaml_docs
from support import ca_init, ca_issue, http_request

NET = "127.0.75"


def curl(*args, timeout=20):
    r = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


class H2Client:
    """A prior-knowledge h2c client over one socket, through Python's h2 state machine."""

    def __init__(self, host, port, settings=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                         header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.responses = {}  # stream id -> {"headers": [...], "body": bytearray, "ended": bool}
        self.events = []
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, authority, method="GET", headers=(), body=None, end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", authority), *headers]
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end)
        self.responses[sid] = {"headers": [], "body": bytearray(), "ended": False, "reset": None}
        self.flush()
        return sid

    def pump(self):
        """Reads once and handles what came; False once the connection closed."""
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            self.events.append(ev)
            r = self.responses.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                r["headers"] = ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                r["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                r["ended"] = True
            elif isinstance(ev, h2.events.StreamReset) and r is not None:
                r["reset"] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.closed = True
        self.flush()
        return True

    def wait(self, pred, what):
        return wait_until(lambda: (self.pump() or True) and pred(), what=what, interval=0)

    def done(self, sid):
        r = self.responses[sid]
        return r["ended"] or r["reset"] is not None

    def status(self, sid):
        return int(dict(self.responses[sid]["headers"]).get(":status", 0))

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    ca = ca_init(root / "ca", "h2 test CA")
    ca_issue(root / "ca", root / "a", "cluster-1", dns=["a.example"])
    return {"ca": ca, "crt": root / "a.crt", "key": root / "a.key"}


@pytest.fixture(scope="module")
def env(module_procs, pki):
    g = module_procs
    addr = f"{NET}.1"
    app = g.app(f"{NET}.10", "cluster-1")
    raw = g.raw_upstream(f"{NET}.20")
    port, tls_port = free_port(addr), free_port(addr)
    raw_host = "bookinfo/raw.bookinfo.svc.cluster.local"
    rules = [to_service(raw.port, raw_host, match=[uri("prefix", "/raw/")]),
             to_service(app.port)]
    tls_srv = server("tls", tls_port, "a.example", rules)
    tls_srv["tls"] = {"mode": "SIMPLE", "files": {"serverCertificate": str(pki["crt"]),
                                                  "privateKey": str(pki["key"])}}
    resources = {
        "services.yaml": yaml_docs(
            service_doc("cluster-1", [(app.host, app.port)]),
            service_doc("cluster-1", [(raw.host, raw.port)], name="raw",
                        hostname="raw.bookinfo.svc.cluster.local")),
        "gateway.yaml": yaml_docs(gateway_doc([server("plain", port, "*", rules), tls_srv])),
    }
    gw = g.gateway(addr, resources, wait_ports=(port, tls_port), workers=1,
                   extra_args=["--h2-max-streams", "50"])
    return {"gw": gw, "addr": addr, "port": port, "tls_port": tls_port, "app": app, "raw": raw}


@pytest.fixture
def raw(env):
    env["raw"].reset()
    return env["raw"]


def test_curl_prior_knowledge_h2c_and_http11_share_one_port(env):
    base = f"http://{env['addr']}:{env['port']}"
    out = curl("--http2-prior-knowledge", "-D", "-", f"{base}/productpage")
    assert out.startswith("HTTP/2 200"), out
    assert "productpage from cluster-1" in out
    out = curl("-D", "-", f"{base}/productpage")
    assert out.startswith("HTTP/1.1 200"), out
    e = env["gw"].wait_access(lambda e: e["protocol"] == "HTTP/2" and e["path"] == "/productpage",
                              what="the stream's access-log line")
    assert e["status"] == 200 and e["upstream"] == f"{env['app'].host}:{env['app'].port}"


def test_curl_http2_over_tls_negotiates_h2_by_alpn(env, pki):
    out = curl("--http2", "--cacert", str(pki["ca"]), "--resolve",
               f"a.example:{env['tls_port']}:{env['addr']}", "-D", "-", "-w", "%{http_version}",
               f"https://a.example:{env['tls_port']}/productpage")
    assert out.startswith("HTTP/2 200"), out
    assert "productpage from cluster-1" in out and out.endswith("2")


def test_nghttp_gets_the_page_and_the_upload_arrives_whole(env, raw):
    url = f"http://{env['addr']}:{env['port']}"
    r = subprocess.run(["nghttp", "-v", f"{url}/productpage"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    assert ":status: 200" in r.stdout and "productpage from cluster-1" in r.stdout
    body = bytes(range(256)) * 4096  # 1 MiB: many DATA frames, past the initial window
    c = H2Client(env["addr"], env["port"])
    try:
        sid = c.request("/raw/upload", "raw.example", method="POST", body=b"", end=False)
        sent = 0
        while sent < len(body):  # the gateway opens the window as it forwards
            n = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size,
                    len(body) - sent)
            if not n:
                assert c.pump(), "the connection closed mid-upload"
                continue
            c.conn.send_data(sid, body[sent:sent + n], end_stream=sent + n == len(body))
            sent += n
            c.flush()
        c.wait(lambda: c.done(sid), "the upload's answer")
        assert c.status(sid) == 200
        assert dict(c.responses[sid]["headers"]).get("x-received") == str(len(body))
    finally:
        c.close()
    got = raw.complete_requests()
    assert len(got) == 1 and got[0].body_len == len(body)
    # no content-length from the client: the gateway framed the body itself, in chunks
    assert got[0].header("transfer-encoding") == "chunked"


def test_streams_are_multiplexed_and_each_logged(env):
    c = H2Client(env["addr"], env["port"])
    try:
        sids = [c.request(f"/productpage?s={i}", "bookinfo.example") for i in range(20)]
        c.wait(lambda: all(c.done(s) for s in sids), "20 streams")
        assert [c.status(s) for s in sids] == [200] * 20
        assert all(c.responses[s]["body"] == b"productpage from cluster-1\n" for s in sids)
    finally:
        c.close()
    gw = env["gw"]
    wait_until(lambda: len([l for l in gw.access_lines() if "/productpage?s=" in l
                            and "HTTP/2" in l]) == 20, what="20 access-log lines")


def test_translation_to_http11_authority_cookies_and_te(env, raw):
    c = H2Client(env["addr"], env["port"])
    try:
        sid = c.request("/raw/x", "raw.example:8080", headers=[
            ("cookie", "a=1"), ("te", "trailers"), ("cookie", "b=2"), ("x-custom", "v")])
        c.wait(lambda: c.done(sid), "the answer")
        assert c.status(sid) == 200
    finally:
        c.close()
    (req,) = raw.complete_requests()
    assert req.header("host") == "raw.example:8080"
    assert req.header_all("cookie") == ["a=1; b=2"]
    assert req.header("x-custom") == "v"
    assert "te" not in req.header_names()  # hop-by-hop: HTTP/2's te is not the upstream's


def test_heads_of_several_frames_and_data_on_two_connections_arrive_whole(env):
    """Response heads too large for one frame (HEADERS, then CONTINUATION) and DATA, on two
    connections at once: each arrives as it was sent (the connections of a worker serialise
    their frames through one nghttp2 frame buffer, proxy/h2.c)."""
    a, b = H2Client(env["addr"], env["port"]), H2Client(env["addr"], env["port"])
    try:
        want = {}
        for c in (a, b):
            for n in (40000, 20000):
                want[(c, c.request(f"/raw/big-head/{n}", "raw.example"))] = ("head", n)
            want[(c, c.request(f"/raw/download/{300 << 10}", "raw.example"))] = ("body", 300 << 10)
        def pump_ready():
            # only a connection with bytes waiting: a pump() on one that is done would block for
            # its socket timeout while the other's frames wait
            ready, _, _ = select.select([a.sock, b.sock], [], [], 0.2)
            for c in (a, b):
                if c.sock in ready:
                    c.pump()
            return all(c.done(sid) for c, sid in want)
        wait_until(pump_ready, what="every stream on both", interval=0)
        for (c, sid), (kind, n) in want.items():
            r = c.responses[sid]
            assert c.status(sid) == 200 and r["reset"] is None
            if kind == "head":
                assert dict(r["headers"])["x-big"] == "b" * n and r["body"] == b"raw\n"
            else:
                assert r["body"] == b"x" * n
    finally:
        a.close()
        b.close()


def test_a_response_streams_at_the_clients_pace(env):
    """A 32 MiB download with a 64 KiB stream window the client reopens as it reads: it arrives
    whole, and the gateway never held more than a window's worth for it (RSS stays put)."""
    gw = env["gw"]
    before = gw.proc.rss_kib()
    c = H2Client(env["addr"], env["port"])
    try:
        sid = c.request(f"/raw/download/{32 << 20}", "raw.example")
        c.wait(lambda: c.done(sid), "the download")
        assert c.status(sid) == 200 and len(c.responses[sid]["body"]) == 32 << 20
    finally:
        c.close()
    assert gw.proc.rss_kib() - before < 16 << 10, (before, gw.proc.rss_kib())


def test_a_retry_happens_per_stream(procs):
    """The first endpoint refuses connections: each stream is retried on the other one."""
    addr = f"{NET}.2"
    app = procs.app(f"{NET}.11", "cluster-1")
    dead = (f"{NET}.12", free_port(f"{NET}.12"))
    port = free_port(addr)
    resources = {"gw.yaml": yaml_docs(
        service_doc("cluster-1", [dead, (app.host, app.port)]),
        gateway_doc([server("plain", port, "*", [to_service(app.port)])]))}
    gw = procs.gateway(addr, resources, wait_ports=(port,), workers=1)
    c = H2Client(addr, port)
    try:
        sids = [c.request(f"/p{i}", "bookinfo.example") for i in range(10)]
        c.wait(lambda: all(c.done(s) for s in sids), "10 streams")
        assert [c.status(s) for s in sids] == [200] * 10
    finally:
        c.close()
    m = gw.metrics()
    assert m.get("crossgate_downstream_rq_http2_total") == 10
    assert m.get("crossgate_downstream_cx_http2_total") == 1


def test_settings_advertise_the_limits_and_that_many_streams_are_served_at_once(env, raw):
    """50 streams (--h2-max-streams 50) held upstream at once, then all answered. A client that
    opens more than it was allowed is refused: test_http2_attacks.py frames that by hand."""
    c = H2Client(env["addr"], env["port"])
    try:
        c.wait(lambda: c.conn.remote_settings.max_concurrent_streams == 50, "the server's SETTINGS")
        assert c.conn.remote_settings.max_header_list_size == 65536
        env["raw"].gate.clear()  # /raw/gate answers once the gate opens
        sids = [c.request("/raw/gate", "raw.example", headers=[("x-i", str(i))])
                for i in range(50)]
        wait_until(lambda: len(raw.requests) == 50, what="50 requests upstream at once")
        env["raw"].gate.set()
        c.wait(lambda: all(c.done(s) for s in sids), "the 50 answers")
        assert [c.status(s) for s in sids] == [200] * 50
    finally:
        env["raw"].gate.set()
        c.close()


def test_sigterm_sends_goaway_and_the_open_stream_finishes(procs):
    addr = f"{NET}.3"
    raw = procs.raw_upstream(f"{NET}.13")
    port = free_port(addr)
    host = "bookinfo/raw.bookinfo.svc.cluster.local"
    resources = {"gw.yaml": yaml_docs(
        service_doc("cluster-1", [(raw.host, raw.port)], name="raw",
                    hostname="raw.bookinfo.svc.cluster.local"),
        gateway_doc([server("plain", port, "*", [to_service(raw.port, host)])]))}
    gw = procs.gateway(addr, resources, wait_ports=(port,), workers=1,
                       extra_args=["--drain-time", "20s"])
    raw.gate.clear()
    # nghttp, as Python's h2 stops reading at a GOAWAY: -v prints every frame in order
    cli = subprocess.Popen(["nghttp", "-v", f"http://{addr}:{port}/gate"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: len(raw.requests) == 1, what="the request upstream")
        gw.proc.signal(signal.SIGTERM)
        wait_until(lambda: gw.metrics().get("crossgate_http2_goaway_sent_total") == 1,
                   what="the GOAWAY")
        raw.gate.set()  # the stream in flight still gets its answer
        out, _ = cli.communicate(timeout=20)
    finally:
        raw.gate.set()
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, out
    goaway = out.index("recv GOAWAY frame")
    assert "error_code=NO_ERROR" in out[goaway:goaway + 200], out
    assert out.index(":status: 200", goaway) > goaway, out
    assert "recv DATA frame" in out[goaway:], out


def test_metrics_count_http2_connections(env):
    m = env["gw"].metrics()
    assert m.get("crossgate_downstream_cx_http2_total") >= 1
    assert m.get("crossgate_downstream_rq_http2_total") >= 1


def test_a_header_list_decoding_past_the_limit_gets_431_after_other_requests(env):
    """HPACK sends a repeated field once and refers to it after: 2.7 kB on the wire decoding to
    90 kB, past the 64 KiB list limit. The stream gets 431 and the connection and the gateway
    go on. Regression: the refusal once logged through the exchange's previous head (offsets
    into a buffer no longer there) and crashed the worker once it had served a request."""
    c = H2Client(env["addr"], env["port"])
    try:
        first = c.request("/productpage", "bookinfo.example", headers=[("user-agent", "earlier")])
        c.wait(lambda: c.done(first), "a first request")
        big = c.request("/big", "bookinfo.example", headers=[("x-rep", "a" * 3000)] * 30)
        c.wait(lambda: c.done(big), "the big list's answer")
        assert c.status(big) == 431
        after = c.request("/productpage", "bookinfo.example")
        c.wait(lambda: c.done(after), "a request after it, on the same connection")
        assert c.status(after) == 200
    finally:
        c.close()
    assert env["gw"].proc.check_alive()
    e = env["gw"].wait_access(lambda e: e["status"] == 431 and e["protocol"] == "HTTP/2",
                              what="the 431's access-log line")
    assert e["ua"] == "" or e["ua"] == "-", e  # nothing of the earlier request's head
