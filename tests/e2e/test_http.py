"""HTTP/1.1 semantics through the gateway: connections, framing, bodies, forwarded headers."""

import hashlib
import re

import pytest

from conftest import (HttpConn, build_request, direct, free_port, gateway_doc, server,
                      service_doc, to_service, uri, wait_until, yaml_docs)

NET = "127.0.12"
GW = f"{NET}.1"
CLIENT_IP = f"{NET}.99"  # the client binds here so the forwarded-for value is known


@pytest.fixture(scope="module")
def env(module_procs):
    g = module_procs
    app = g.app(f"{NET}.10", "cluster-1")
    raw = g.raw_upstream(f"{NET}.20")
    port = free_port(GW)
    resources = {
        "services.yaml": yaml_docs(
            service_doc("cluster-1", [(app.host, app.port)]),
            service_doc("cluster-1", [(raw.host, raw.port)], name="raw",
                        hostname="raw.bookinfo.svc.cluster.local")),
        "gateway.yaml": yaml_docs(gateway_doc([
            server("http", port, "*", [
                to_service(raw.port, "bookinfo/raw.bookinfo.svc.cluster.local",
                           match=[uri("prefix", "/raw/")]),
                direct(200, "local\n", match=[uri("exact", "/local")]),
                to_service(app.port),
            ])])),
    }
    gw = g.gateway(GW, resources, wait_ports=(port,))
    return {"gw": gw, "port": port, "app": app, "raw": raw}


def conn(env, **kw):
    return HttpConn(GW, env["port"], source=CLIENT_IP, **kw)


# --- connections

def test_keep_alive_serves_many_requests_on_one_connection(env):
    gw = env["gw"]
    before = gw.metrics().get("crossgate_downstream_cx_total")
    with conn(env) as c:
        for i in range(50):
            r = c.request("GET", f"/productpage?i={i}", headers=[("x-request-id", f"ka-{i}")])
            assert r.status == 200 and r.header("x-request-id") == f"ka-{i}"
            assert r.header("connection") is None or r.header("connection").lower() != "close"
        r = c.get("/local")
        assert (r.status, r.body) == (200, b"local\n")
    assert gw.metrics().get("crossgate_downstream_cx_total") == before + 1


def test_pipelined_requests_are_answered_in_order(env):
    with conn(env) as c:
        c.send(b"".join(build_request("GET", p, "example.com", [("x-request-id", rid)])
                        for p, rid in (("/productpage", "p1"), ("/local", "p2"),
                                       ("/productpage", "p3"))))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert (r1.status, r1.header("x-request-id"), r1.body) == (200, "p1", b"productpage from cluster-1\n")
    assert (r2.status, r2.body) == (200, b"local\n")
    assert (r3.status, r3.header("x-request-id")) == (200, "p3")


def test_pipelined_requests_with_bodies_are_answered_in_order(env):
    with conn(env) as c:
        c.send(build_request("POST", "/productpage", headers=[("x-request-id", "b1")], body=b"a" * 10) +
               build_request("POST", "/productpage", headers=[("x-request-id", "b2")], body=b"b" * 2000) +
               build_request("GET", "/productpage", headers=[("x-request-id", "b3")]))
        rs = [c.read_response() for _ in range(3)]
    assert [(r.status, r.header("x-request-id"), r.header("x-app-body-bytes")) for r in rs] == [
        (200, "b1", "10"), (200, "b2", "2000"), (200, "b3", "0")]


def test_connection_close_is_honoured(env):
    with conn(env) as c:
        r = c.request("GET", "/productpage", headers=[("Connection", "close")])
        assert r.status == 200
        assert (r.header("connection") or "").lower() == "close"
        assert c.peer_closed()


def test_http10_without_keep_alive_closes_after_the_response(env):
    with conn(env) as c:
        c.send(b"GET /productpage HTTP/1.0\r\nHost: example.com\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"productpage from cluster-1\n"
        assert c.peer_closed()


def test_head_response_has_no_body(env):
    with conn(env) as c:
        r = c.request("HEAD", "/productpage")
        assert r.status == 200
        assert r.header("content-length") == str(len("productpage from cluster-1\n"))
        # the next response on the connection must start right after the HEAD response head
        r2 = c.get("/local")
        assert (r2.status, r2.body) == (200, b"local\n")


# --- request bodies

def test_content_length_body_arrives_intact(env):
    body = bytes(range(256)) * 400  # 102400 bytes
    with conn(env) as c:
        r = c.request("POST", "/productpage", body=body)
        assert r.header("x-app-body-bytes") == str(len(body))
        r = c.request("PUT", "/raw/cl", body=body)
        assert r.status == 200
    up = [q for q in env["raw"].complete_requests() if q.path == "/raw/cl"][-1]
    assert bytes(up.body) == body
    assert up.header("content-length") == str(len(body))


def test_chunked_body_arrives_intact(env):
    pieces = [b"x" * 1, b"y" * 4096, bytes(range(256)) * 37, b"z" * 3]
    payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    want = b"".join(pieces)
    with conn(env) as c:
        r = c.request("POST", "/productpage", headers=[("Transfer-Encoding", "chunked")], body=payload)
        assert r.status == 200 and r.header("x-app-body-bytes") == str(len(want))
        r = c.request("POST", "/raw/chunked", headers=[("Transfer-Encoding", "chunked")],
                      body=payload)
        assert r.status == 200
    up = [q for q in env["raw"].complete_requests() if q.path == "/raw/chunked"][-1]
    assert hashlib.sha256(up.body).digest() == hashlib.sha256(want).digest()
    assert up.header("content-length") is None


def test_chunked_body_with_extensions_and_trailers_arrives_intact(env):
    payload = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n"
    with conn(env) as c:
        r = c.request("POST", "/productpage", headers=[("Transfer-Encoding", "chunked")], body=payload)
        assert r.status == 200 and r.header("x-app-body-bytes") == "11"
        # the connection stays in sync after the trailer
        assert c.get("/local").body == b"local\n"


def test_expect_100_continue_gets_interim_then_final_response(env):
    with conn(env) as c:
        c.send(build_request("POST", "/productpage",
                             headers=[("Content-Length", "5"), ("Expect", "100-continue")]))
        interim = c.read_response()
        assert interim.status == 100
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and r.header("x-app-body-bytes") == "5"


def test_expect_header_is_not_forwarded_after_the_gateway_answered_it(env):
    with conn(env) as c:
        c.send(build_request("POST", "/raw/expect",
                             headers=[("Content-Length", "3"), ("Expect", "100-continue")]))
        assert c.read_response().status == 100
        c.send(b"abc")
        assert c.read_response().status == 200
    up = [q for q in env["raw"].complete_requests() if q.path == "/raw/expect"][-1]
    assert bytes(up.body) == b"abc"
    assert "expect" not in up.header_names()


# --- forwarded headers

def test_hop_by_hop_headers_and_those_named_in_connection_are_not_forwarded(env):
    with conn(env) as c:
        r = c.request("GET", "/raw/hop", headers=[
            ("Connection", "keep-alive, X-Secret, x-other"),
            ("X-Secret", "1"), ("X-Other", "2"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"), ("Trailer", "x-foo"), ("Upgrade", "websocket"),
            ("X-Kept", "yes"),
        ])
        assert r.status == 200
    up = [q for q in env["raw"].complete_requests() if q.path == "/raw/hop"][-1]
    names = up.header_names()
    for h in ("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
              "x-secret", "x-other"):
        assert h not in names, f"{h} was forwarded: {up.raw_head!r}"
    assert up.header("x-kept") == "yes"
    assert up.header("host") == "example.com"


def test_forwarded_for_appends_client_ip_and_proto_is_http(env):
    with conn(env) as c:
        c.request("GET", "/raw/xff1")
        c.request("GET", "/raw/xff2", headers=[("X-Forwarded-For", "10.1.2.3"),
                                                 ("X-Forwarded-Proto", "https")])
    reqs = {q.path: q for q in env["raw"].complete_requests()}
    a, b = reqs["/raw/xff1"], reqs["/raw/xff2"]
    assert a.header_all("x-forwarded-for") == [CLIENT_IP]
    assert [s.strip() for s in b.header("x-forwarded-for").split(",")] == ["10.1.2.3", CLIENT_IP]
    assert len(b.header_all("x-forwarded-for")) == 1
    assert a.header_all("x-forwarded-proto") == ["http"]
    assert b.header_all("x-forwarded-proto") == ["http"]


def test_request_id_is_generated_when_absent_and_kept_when_present(env):
    with conn(env) as c:
        c.request("GET", "/raw/rid1")
        c.request("GET", "/raw/rid2", headers=[("X-Request-Id", "client-chosen-42")])
    reqs = {q.path: q for q in env["raw"].complete_requests()}
    gen = reqs["/raw/rid1"].header_all("x-request-id")
    assert len(gen) == 1 and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", gen[0])
    assert reqs["/raw/rid2"].header_all("x-request-id") == ["client-chosen-42"]
    # and the generated one is what the access log shows
    e = env["gw"].wait_access(lambda e: e["path"] == "/raw/rid1")
    assert e["rid"] == gen[0]


def test_generated_request_ids_are_unique(env):
    with conn(env) as c:
        for i in range(20):
            c.request("GET", f"/raw/uniq{i}")
    ids = [q.header("x-request-id") for q in env["raw"].complete_requests()
           if q.path.startswith("/raw/uniq")]
    assert len(ids) == 20 and len(set(ids)) == 20


def test_request_target_and_method_are_forwarded_unchanged(env):
    with conn(env) as c:
        c.request("DELETE", "/raw/target/%7Euser/a%20b?x=1&y=%2F")
    q = [q for q in env["raw"].complete_requests() if q.path.startswith("/raw/target")][-1]
    assert (q.method, q.path) == ("DELETE", "/raw/target/%7Euser/a%20b?x=1&y=%2F")


# --- responses and upstream connections

def test_chunked_upstream_response_is_relayed_intact(env):
    with conn(env) as c:
        r = c.get("/raw/chunked-response")
        assert (r.status, r.body) == (200, b"hello world")
        assert c.get("/local").body == b"local\n"


def test_close_delimited_upstream_response_is_relayed_intact(env):
    with conn(env) as c:
        r = c.get("/raw/eof-response")
        assert r.status == 200
        assert r.body == b"until-" + b"e" * 5000 + b"of"
        # re-framed (chunked) for a keep-alive client, or the client connection closes
        if (r.header("transfer-encoding") or "").lower() == "chunked":
            assert c.get("/local").body == b"local\n"
        else:
            assert c.peer_closed()


def test_upstream_connections_are_pooled_across_requests(env):
    raw = env["raw"]
    before = raw.connections
    with conn(env) as c:
        for i in range(20):
            assert c.get(f"/raw/pooled{i}").status == 200
    for i in range(10):  # new client connections, same upstream pool
        with conn(env) as c:
            assert c.get(f"/raw/pooled-new{i}").status == 200
    # one worker's pool serves them all; two workers may each open one (and a spare)
    assert raw.connections - before <= 4


def test_upstream_closing_a_pooled_connection_does_not_fail_the_next_request(env):
    with conn(env) as c:
        for i in range(20):
            r = c.get(f"/raw/quiet-close?i={i}")
            assert (r.status, r.body) == (200, b"raw\n"), f"request {i}: {r}"
            r = c.get(f"/raw/after-quiet-close?i={i}")
            assert (r.status, r.body) == (200, b"raw\n"), f"request after {i}: {r}"
