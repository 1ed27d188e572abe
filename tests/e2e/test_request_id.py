"""The request id in the access log belongs to its own request: a request whose head never
parsed has none of its own, and must not show the id the gateway made up for an earlier request
on the same connection, or on the connection whose memory this one reuses."""

import pytest

from conftest import (HttpConn, direct, free_port, gateway_doc, parse_access_line, server, uri,
                      yaml_docs)
from support import wait_until

NET = "127.0.23"
GW = f"{NET}.1"


@pytest.fixture(scope="module")
def env(module_procs):
    g = module_procs
    port = free_port(GW)
    resources = {
        "gateway.yaml": yaml_docs(gateway_doc([
            server("h", port, "*", [direct(200, "local\n", match=[uri("prefix", "/")])])])),
    }
    gw = g.gateway(GW, resources, wait_ports=(port,), workers=1)  # one free list: reuse is certain
    return {"gw": gw, "port": port}


def refused_lines(gw):
    return [e for e in map(parse_access_line, gw.access_lines()) if e and e["status"] == 400]


def next_refused(gw, before):
    """The 400 logged after the `before` ones (the log is written in batches: polled)."""
    return wait_until(lambda: (refused_lines(gw)[before:] or [None])[0], what="the 400's log line")


def test_unparsed_request_after_a_keepalive_one_logs_no_request_id(env):
    before = len(refused_lines(env["gw"]))
    with HttpConn(GW, env["port"]) as c:
        c.send(b"GET /first-of-two HTTP/1.1\r\nHost: a\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"GET /second-of-two HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n")
        assert c.read_response().status == 400
    first = env["gw"].wait_access(lambda e: e["path"] == "/first-of-two")
    assert first["rid"] not in ("", "-")
    bad = next_refused(env["gw"], before)
    assert bad["rid"] != first["rid"], bad


def test_unparsed_request_on_a_reused_connection_logs_no_request_id(env):
    with HttpConn(GW, env["port"]) as c:
        c.send(b"GET /before-reuse HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert c.read_response().status == 200
    first = env["gw"].wait_access(lambda e: e["path"] == "/before-reuse")
    before = len(refused_lines(env["gw"]))
    with HttpConn(GW, env["port"]) as c:  # the closed connection's object, off the free list
        c.send(b"GET /after-reuse HTTP/1.1\r\nHost: a\r\nbad header line\r\n\r\n")
        assert c.read_response().status == 400
    bad = next_refused(env["gw"], before)
    assert bad["rid"] != first["rid"], bad
