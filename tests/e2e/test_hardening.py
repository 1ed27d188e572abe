"""Request-path hardening: each confirmed defect of the smuggling review, reproduced through the
real gateway, must stay fixed (issue 8). Upstreams are the recording RawUpstream (what a request
became on the wire) and a scripted one (what a response does to the client)."""

import fcntl
import os
import socket
import subprocess
import threading

import pytest

from conftest import (HttpConn, build_request, direct, free_port, gateway_doc, http_get,
                      raw_exchange, server, service_doc, to_service, uri, yaml_docs)
from support import BIN, wait_until

NET = "127.0.19"
GW = f"{NET}.1"

F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, Python 3.10+

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


class ScriptedUpstream:
    """Answers every request with the bytes of `script` (set per test), then keeps the
    connection open until the gateway closes it; records each connection's fate."""

    def __init__(self, host):
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.script = b""
        self.late = b""  # sent 50 ms after the script: an upstream that keeps talking (scenario, not sync)
        self.closed_by_gateway = 0
        self.requests = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        s.settimeout(30)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        with self.lock:
                            self.closed_by_gateway += 1
                        return
                    buf += d
                buf = buf[buf.index(b"\r\n\r\n") + 4:]
                with self.lock:
                    self.requests += 1
                s.sendall(self.script)
                if self.late:
                    threading.Event().wait(0.05)
                    s.sendall(self.late)
        except OSError:
            return
        finally:
            s.close()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def env(module_procs):
    g = module_procs
    raw = g.raw_upstream(f"{NET}.20")
    scripted = ScriptedUpstream(f"{NET}.21")
    g.servers.append(scripted)
    port = free_port(GW)
    resources = {
        "services.yaml": yaml_docs(
            service_doc("cluster-1", [(raw.host, raw.port)]),
            service_doc("cluster-1", [(scripted.host, scripted.port)], name="scripted",
                        hostname="scripted.bookinfo.svc.cluster.local")),
        "gateway.yaml": yaml_docs(gateway_doc([
            server("h", port, "*", [
                direct(200, "local\n", match=[uri("exact", "/local")]),
                to_service(scripted.port, "bookinfo/scripted.bookinfo.svc.cluster.local",
                           match=[uri("prefix", "/scripted")]),
                to_service(raw.port, match=[uri("prefix", "/slow")], timeout="1s"),
                to_service(raw.port),
            ])])),
    }
    gw = g.gateway(GW, resources, wait_ports=(port,), extra_args=("--body-timeout", "700ms"))
    return {"gw": gw, "port": port, "raw": raw, "scripted": scripted}


@pytest.fixture
def raw(env):
    env["raw"].reset()
    return env["raw"]


def barrier(env, tag):
    """Once a valid request's answer is back, anything sent upstream before it has arrived."""
    assert http_get(GW, env["port"], f"/barrier-{tag}").status == 200
    return [q for q in env["raw"].requests if q.path != f"/barrier-{tag}"]


def endpoint_errors(env):
    return env["gw"].metrics().sum("crossgate_upstream_rq_error_total")


# --- 1. Connection can never remove framing, Host or the gateway's own headers

def test_connection_naming_content_length_cannot_smuggle_the_body_as_a_request(env, raw):
    data = (b"POST /x HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\n"
            b"Content-Length: %d\r\n\r\n" % len(SMUGGLED)) + SMUGGLED
    with HttpConn(GW, env["port"]) as c:
        c.send(data)
        assert c.read_response().status == 200
    seen = barrier(env, "conn-cl")
    assert [q.path for q in seen] == ["/x"], seen
    assert bytes(seen[0].body) == SMUGGLED
    assert seen[0].header("content-length") == str(len(SMUGGLED))


@pytest.mark.parametrize("named", ["host", "transfer-encoding", "x-forwarded-for",
                                   "x-crossgate-hops"])
def test_connection_cannot_remove_host_te_or_gateway_headers(env, raw, named):
    data = (b"POST /named HTTP/1.1\r\nHost: a\r\nConnection: " + named.encode() +
            b"\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    with HttpConn(GW, env["port"]) as c:
        c.send(data)
        assert c.read_response().status == 200
    seen = barrier(env, "named")
    assert len(seen) == 1 and seen[0].complete and bytes(seen[0].body) == b"abc"
    for h in ("host", "transfer-encoding", "x-forwarded-for", "x-crossgate-hops"):
        assert seen[0].header(h) is not None, (h, seen[0].headers)


# --- 2. Content-Length of 2^63 or more

def test_content_length_2_pow_63_is_refused_and_nothing_reaches_upstream(env, raw):
    data = b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n" + SMUGGLED
    r, closed = raw_exchange(GW, env["port"], data)
    assert r.status == 400 and closed
    assert barrier(env, "cl63") == []


# --- 5. a slow client is the client's fault

def test_client_trickling_its_body_past_the_route_timeout_gets_408_and_no_endpoint_blame(env, raw):
    before = endpoint_errors(env)
    with HttpConn(GW, env["port"], timeout=20) as c:
        # the /slow route has a 1 s timeout; the body never completes
        c.send(b"POST /slow/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        r = c.read_response()
        assert r.status == 408
        assert c.peer_closed()
    e = env["gw"].wait_access(lambda e: e["path"] == "/slow/upload")
    assert e["status"] == 408 and "UT" not in e["flag_set"]
    assert endpoint_errors(env) == before
    assert env["gw"].metrics().get("crossgate_downstream_rq_client_timeout_total") >= 1


def test_request_body_idle_timeout_is_408(env, raw):
    # this module's gateway runs with --body-timeout 700ms; the route timeout is 15 s
    before = endpoint_errors(env)
    with HttpConn(GW, env["port"], timeout=20) as c:
        c.send(b"POST /stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        r = c.read_response()
        assert r.status == 408 and r.body == b"request body timeout"
    e = env["gw"].wait_access(lambda e: e["path"] == "/stalled")
    assert int(e["duration"]) < 10000  # the body timeout ended it, not the 15 s route timeout
    assert endpoint_errors(env) == before


# --- 6. a malformed body already received never reaches the upstream

@pytest.mark.parametrize("body", [b"0x5\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX", b"5;a\rb\r\nhello\r\n0\r\n\r\n",
                                  b"fffffffffffffffff\r\n"],
                         ids=["hex-prefix", "overrun", "bare-cr-in-ext", "size-overflow"])
def test_invalid_chunked_body_in_the_same_read_sends_nothing_upstream(env, raw, body):
    data = b"POST /chunky HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    r, closed = raw_exchange(GW, env["port"], data)
    assert r.status == 400 and closed
    assert barrier(env, "chunky") == []
    assert env["raw"].connections <= 1  # only the barrier's connection, if any new one


# --- 7. Transfer-Encoding

@pytest.mark.parametrize("te,status", [(b"gzip, chunked", 501), (b"identity", 501),
                                       (b"chunked, chunked", 400)])
def test_transfer_encoding_other_than_one_chunked_is_refused(env, raw, te, status):
    data = b"POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + te + b"\r\n\r\n0\r\n\r\n" + SMUGGLED
    r, closed = raw_exchange(GW, env["port"], data)
    assert r.status == status and closed
    assert barrier(env, "te") == []


def test_two_transfer_encoding_headers_are_answered_and_nothing_forwarded(env, raw):
    data = (b"POST /te2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED)
    r, closed = raw_exchange(GW, env["port"], data)
    assert r is not None and r.status in (400, 501) and closed
    assert barrier(env, "te2") == []


# --- responses: anything ambiguous is a 502 UPE, and that upstream connection is closed

BAD_RESPONSES = {
    "te-chunked-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "cl-2-pow-63": b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nok",
    "cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "unsolicited-101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    "bad-chunk-with-head": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
}


@pytest.mark.parametrize("name", list(BAD_RESPONSES))
def test_ambiguous_response_is_502_upe_and_the_upstream_connection_is_closed(env, name):
    up = env["scripted"]
    up.script = BAD_RESPONSES[name]
    closed_before = up.closed_by_gateway
    rid = f"bad-resp-{name}"
    r = http_get(GW, env["port"], "/scripted/x", headers=[("x-request-id", rid)])
    assert r.status == 502, r
    e = env["gw"].wait_access(lambda e: e["rid"] == rid)
    assert "UPE" in e["flag_set"]
    wait_until(lambda: up.closed_by_gateway > closed_before, what="the gateway to close that upstream connection")


def test_upstream_connection_header_cannot_strip_response_framing(env):
    up = env["scripted"]
    up.script = b"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nok"
    with HttpConn(GW, env["port"]) as c:
        r = c.get("/scripted/framing")
        assert (r.status, r.body, r.header("content-length")) == (200, b"ok", "2")
        assert c.get("/local").body == b"local\n"  # the connection is still in step


# --- 8. smaller defects

def test_duplicate_hops_headers_cannot_hide_a_loop(env, raw):
    data = build_request("GET", "/loop", "a", [("x-crossgate-hops", "0"), ("x-crossgate-hops", "8")])
    r, _ = raw_exchange(GW, env["port"], data)
    assert r.status == 508
    assert barrier(env, "hops") == []


def test_absolute_form_target_is_forwarded_with_its_authority_as_host(env, raw):
    with HttpConn(GW, env["port"]) as c:
        c.send(b"GET http://b.example/abs?q=1 HTTP/1.1\r\nHost: a.example\r\n\r\n")
        assert c.read_response().status == 200
    seen = barrier(env, "abs")
    assert len(seen) == 1
    assert seen[0].path == "/abs?q=1"
    assert seen[0].header_all("host") == ["b.example"]


def test_access_log_on_a_stalled_pipe_never_blocks_the_worker(procs, tmp_path):
    raw = procs.raw_upstream(f"{NET}.22")
    port = free_port(f"{NET}.2")
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    try:
        fcntl.fcntl(reader, F_SETPIPE_SZ, 4096)  # a one-page pipe fills at once
        gw = procs.gateway(f"{NET}.2", {
            "s.yaml": yaml_docs(service_doc("cluster-1", [(raw.host, raw.port)])),
            "g.yaml": yaml_docs(gateway_doc([server("h", port, "*", [to_service(raw.port)])]))},
            workers=1, wait_ports=(port,), name="gw-fifo", extra_args=("--access-log", str(fifo)))
        long_path = "/p" + "x" * 6000  # ~6 kB a log line: 1 MiB queued after ~180 requests
        with HttpConn(f"{NET}.2", port, timeout=10) as c:
            for i in range(300):
                assert c.get(f"{long_path}?{i}").status == 200
        assert gw.metrics().get("crossgate_access_log_dropped_bytes_total") > 0
    finally:
        os.close(reader)


def test_control_url_longer_than_the_limit_is_refused_with_one_line(tmp_path):
    url = "http://127.0.0.1:7070/" + "a" * 2000
    r = subprocess.run([BIN, "gateway", "--cluster", "c", "--control", url, "--admin", "off"],
                       capture_output=True, timeout=30, cwd=tmp_path)
    assert r.returncode > 0, (r.returncode, r.stderr)  # an error exit, not a signal
    assert b"--control" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# --- the attacker's review (issue 8): each finding, reproduced

def test_chunked_response_after_a_large_head_completes(env):
    up = env["scripted"]
    hdrs = b"".join(b"K%d: v\r\nKeep-Alive: x\r\n" % i for i in range(49)) + b"K49: v\r\n"
    up.script = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + hdrs + b"\r\n0\r\n\r\n"
    with HttpConn(GW, env["port"], timeout=5) as c:
        r = c.get("/scripted/wide")  # the last chunk once waited for input that never came
        assert (r.status, r.body) == (200, b"")


def test_204_never_carries_transfer_encoding(env):
    env["scripted"].script = b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
    with HttpConn(GW, env["port"]) as c:
        r = c.get("/scripted/204")
        assert r.status == 204 and r.header("transfer-encoding") is None
        assert c.get("/local").body == b"local\n"


def test_late_body_after_a_bodiless_answer_never_reaches_another_request(env):
    up = env["scripted"]
    # a HEAD answered with Content-Length 42 whose "body" arrives anyway, pipelined with a GET
    evil = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"
    up.script = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(evil)
    up.late = evil
    with HttpConn(GW, env["port"]) as c:
        c.send(b"HEAD /scripted/a HTTP/1.1\r\nHost: x\r\n\r\nGET /scripted/b HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response(method="HEAD").status == 200
        r = c.read_response()
        up.late = b""
        assert r.body != b"EVIL", "the HEAD's late body answered the next request"


def test_http10_expect_is_ignored_and_a_hostless_request_gets_a_host_upstream(env, raw):
    with HttpConn(GW, env["port"]) as c:
        c.send(b"POST /ten HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
               b"Connection: keep-alive\r\n\r\nabc")
        r = c.read_response()
        assert r.status == 200, r  # not a 100 Continue first (RFC 9110 10.1.1)
    seen = barrier(env, "ten")
    assert len(seen) == 1 and seen[0].header("host"), seen[0].headers if seen else seen


def test_client_not_reading_a_long_response_costs_the_endpoint_nothing(env, raw):
    # the /slow route has a 1 s timeout; the client takes the head and then stops reading
    before = endpoint_errors(env)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((GW, env["port"]))
    s.sendall(b"GET /slow/download/50000000 HTTP/1.1\r\nHost: a\r\nx-request-id: slow-reader\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    e = env["gw"].wait_access(lambda e: e["rid"] == "slow-reader", timeout=10)
    s.close()
    assert "UT" not in e["flag_set"], e
    assert endpoint_errors(env) == before


def test_request_head_too_large_to_forward_keeps_the_pooled_upstream(env):
    up = env["scripted"]
    up.script = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    # many short X-Forwarded-For lines: the rebuilt head does not fit the output vector
    hdrs = [("X-Forwarded-For", f"1.1.1.{i}") for i in range(40)] + [(f"A{i}", "b") for i in range(40)]
    with HttpConn(GW, env["port"]) as c:  # one client connection: one worker, one pool
        assert c.get("/scripted/warm").body == b"ok"  # an upstream connection now sits in the pool
        closed = up.closed_by_gateway
        c.send(build_request("GET", "/scripted/too-wide", "a", hdrs))
        assert c.read_response().status == 431
    # the pooled connection must survive; a close would reach the upstream at once (bounded
    # negative wait: nothing to poll for but the absence of the close)
    try:
        wait_until(lambda: up.closed_by_gateway > closed, timeout=1.0, what="the upstream connection closed")
        raise AssertionError("the pooled upstream connection was thrown away")
    except AssertionError as e:
        if "thrown away" in str(e):
            raise
