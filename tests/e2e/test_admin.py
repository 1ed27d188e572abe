"""The admin endpoint: readiness, Prometheus metrics that move, the config dump."""

import pytest

from conftest import (HttpConn, Metrics, cluster_doc, direct, free_port, gateway_doc, http_get,
                      server, service_doc, to_service, uri, wait_until, yaml_docs)

NET = "127.0.14"
GW = f"{NET}.1"


@pytest.fixture(scope="module")
def env(module_procs):
    g = module_procs
    app = g.app(f"{NET}.10", "cluster-1")
    port = free_port(GW)
    resources = {
        "all.yaml": yaml_docs(
            cluster_doc("cluster-1"),
            service_doc("cluster-1", [(app.host, app.port)]),
            gateway_doc([server("bookinfo", port, "bookinfo.example.com", [
                direct(204, match=[uri("exact", "/nothing")]),
                to_service(app.port, match=[uri("prefix", "/productpage")]),
            ])], name="bookinfo-ingress")),
    }
    gw = g.gateway(GW, resources, wait_ports=(port,))
    return {"gw": gw, "port": port, "app": app}


def get(env, path, hdrs=()):
    return http_get(GW, env["port"], path, "bookinfo.example.com", hdrs)


def test_ready_answers_live(env):
    status, body = env["gw"].admin_get("/ready")
    assert (status, body) == (200, "LIVE\n")


def test_unknown_admin_path_is_404(env):
    assert env["gw"].admin_get("/no-such-thing")[0] == 404


def test_metrics_are_prometheus_text_with_help_and_type(env):
    status, text = env["gw"].admin_get("/metrics")
    assert status == 200
    m = Metrics(text)  # every sample line parses
    for name in ("crossgate_downstream_rq_total", "crossgate_downstream_cx_active",
                 "crossgate_config_version"):
        assert f"# TYPE {name} " in text and f"# HELP {name} " in text
        assert (name, frozenset()) in m.values


def test_request_counters_move_by_status_class_and_upstream(env):
    gw, app = env["gw"], env["app"]
    before = gw.metrics()
    assert get(env, "/productpage").status == 200
    assert get(env, "/productpage/2").status == 200
    assert get(env, "/nothing").status == 204
    assert get(env, "/missing").status == 404
    ep = f"{app.host}:{app.port}"

    def moved():  # responses are counted when each request ends: wait for all four
        m = gw.metrics()
        done = m.sum("crossgate_downstream_rq_xx") - before.sum("crossgate_downstream_rq_xx")
        return m if done == 4 else None
    after = wait_until(moved, what="four requests counted by status class")
    assert after.get("crossgate_downstream_rq_total") - before.get("crossgate_downstream_rq_total") == 4
    d = lambda name, **kw: after.get(name, **kw) - before.get(name, **kw)  # noqa: E731
    assert d("crossgate_downstream_rq_xx", **{"class": "2xx"}) == 3
    assert d("crossgate_downstream_rq_xx", **{"class": "4xx"}) == 1
    assert d("crossgate_downstream_rq_xx", **{"class": "5xx"}) == 0
    assert after.sum("crossgate_upstream_rq_total", endpoint=ep) - \
        before.sum("crossgate_upstream_rq_total", endpoint=ep) == 2
    assert d("crossgate_downstream_cx_total") == 4


def test_active_connection_gauge_follows_open_connections(env):
    gw = env["gw"]
    base = gw.metrics().get("crossgate_downstream_cx_active")
    conns = [HttpConn(GW, env["port"]) for _ in range(3)]
    try:
        for c in conns:  # a request each, so the gateway has surely accepted them
            assert c.get("/productpage", "bookinfo.example.com").status == 200
        assert gw.metrics().get("crossgate_downstream_cx_active") == base + 3
    finally:
        for c in conns:
            c.close()
    wait_until(lambda: gw.metrics().get("crossgate_downstream_cx_active") == base,
               what="cx_active back to its base")


def test_config_dump_has_version_and_servers(env):
    gw = env["gw"]
    dump = gw.config_dump()
    assert dump["version"] == gw.config_version() >= 1
    snap = dump["snapshot"]
    assert snap["cluster"] == "cluster-1" and snap["namespace"] == "bookinfo"
    servers = [(s["name"], s["port"], s["hostname"]) for s in snap["servers"]]
    assert servers == [("bookinfo", env["port"], "bookinfo.example.com")]
    dests = {d["name"]: d for d in snap["destinations"]}
    (dest,) = dests.values()
    assert [(e["address"], e["port"]) for e in dest["endpoints"]] == [(env["app"].host, env["app"].port)]


def test_access_log_line_has_envoy_default_fields(env):
    gw = env["gw"]
    with HttpConn(GW, env["port"], source=f"{NET}.99") as c:
        r = c.request("POST", "/productpage?x=1", "bookinfo.example.com",
                      [("User-Agent", "e2e-agent/1.0"), ("X-Request-Id", "admin-log-1"),
                       ("X-Forwarded-For", "192.0.2.7")], body=b"12345")
    assert r.status == 200
    e = gw.wait_access(lambda e: e["rid"] == "admin-log-1")
    assert e["method"] == "POST" and e["path"] == "/productpage?x=1"
    assert e["protocol"] == "HTTP/1.1"
    assert e["status"] == 200 and e["flags"] == "-"
    assert e["rx"] == 5 and e["tx"] == len(r.body)
    assert e["upstream_ms"] != "-"
    assert e["xff"] == f"192.0.2.7,{NET}.99"
    assert e["ua"] == "e2e-agent/1.0"
    assert e["authority"] == "bookinfo.example.com"
    assert e["upstream"] == f"{env['app'].host}:{env['app'].port}"
    assert e["start"].endswith("Z")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_admin_endpoint_answers_only_get_with_405(env, method):
    import urllib.request
    import urllib.error
    gw = env["gw"]
    req = urllib.request.Request(f"http://{gw.address}:{gw.admin_port}/config_dump", data=b"{}",
                                 method=method)
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError(f"{method} was answered")
    except urllib.error.HTTPError as e:
        assert e.code == 405
        assert "GET" in e.headers.get("allow", "")


def test_admin_endpoint_binds_loopback_by_default_never_the_traffic_address(procs):
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 15000))
        except OSError:
            pytest.skip("127.0.0.1:15000 is taken on this machine")
    address = f"{NET}.2"
    port = free_port(address)
    from conftest import Gateway
    gw = Gateway(procs, address, {"g.yaml": yaml_docs(gateway_doc([server("h", port, "*", [direct(200, "x\n")])]))},
                 "cluster-1", "bookinfo", (("app", "ingressgw-1"),), 1, "gw-default-admin")
    i = gw.argv.index("--admin")
    del gw.argv[i:i + 2]
    gw.proc = procs.spawn(gw.argv, gw.name)
    from support import http_request, tcp_connectable
    wait_until(lambda: gw.proc.check_alive() and http_request("GET", "http://127.0.0.1:15000/ready")[0] == 200,
               what="the admin endpoint on 127.0.0.1:15000")
    wait_until(lambda: tcp_connectable(address, port), what="the traffic port")
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex((address, 15000)) != 0, "the admin endpoint answers on the traffic address"
