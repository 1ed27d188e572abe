"""Routing: virtual hosts, rule matching, local actions and service destinations."""

from collections import Counter

import pytest

from conftest import (HttpConn, cluster_doc, direct, free_port, gateway_doc, headers, http_get,
                      server, service_doc, to_service, uri, yaml_docs)
from support import free_port_on

NET = "127.0.11"
GW = f"{NET}.1"


@pytest.fixture(scope="module")
def env(module_procs):
    g = module_procs
    # productpage in cluster-1 has two endpoints (apps that name themselves alpha and beta);
    # a productpage with the same hostname in cluster-2 must never be used by this instance.
    svc_port = free_port_on([f"{NET}.10", f"{NET}.11", f"{NET}.12"])
    alpha = g.app(f"{NET}.10", "alpha", port=svc_port)
    beta = g.app(f"{NET}.11", "beta", port=svc_port)
    other = g.app(f"{NET}.12", "cluster-2", port=svc_port)
    port = free_port(GW)
    strict_port = free_port(GW)
    rules = [
        direct(200, "exact-uri\n", match=[uri("exact", "/exact")]),
        direct(200, "prefix-uri\n", match=[uri("prefix", "/prefix/")]),
        direct(200, "regex-uri\n", match=[uri("regex", "/re/[0-9]+")]),
        direct(200, "header-exact\n", match=[headers(x_variant={"exact": "blue"})]),
        direct(200, "header-prefix\n", match=[headers(x_variant={"prefix": "gr"})]),
        direct(200, "header-regex\n", match=[headers(x_variant={"regex": "v[0-9]+"})]),
        direct(200, "uri-and-header\n",
               match=[{"uri": {"prefix": "/both"}, "headers": {"x-both": {"exact": "1"}}}]),
        direct(200, "either-a-or-b\n", match=[uri("exact", "/either-a"), uri("exact", "/either-b")]),
        direct(200, "first\n", match=[uri("prefix", "/first")]),
        direct(200, "second\n", match=[uri("exact", "/first/second")]),
        {"match": [uri("prefix", "/r302")],
         "redirect": {"uri": "/there", "authority": "new.example.com", "port": 8443,
                      "scheme": "https", "redirectCode": 302}},
        {"match": [uri("prefix", "/redirect")], "redirect": {"uri": "/moved"}},
        direct(418, "short and stout\n", match=[uri("exact", "/teapot")]),
        to_service(svc_port, match=[uri("prefix", "/productpage")]),
    ]
    resources = {
        "clusters.yaml": yaml_docs(cluster_doc("cluster-1"), cluster_doc("cluster-2", "region-2")),
        "services.yaml": yaml_docs(
            service_doc("cluster-1", [(alpha.host, svc_port), (beta.host, svc_port)]),
            service_doc("cluster-2", [(other.host, svc_port)])),
        "gateway.yaml": yaml_docs(gateway_doc([
            server("exact", port, "exact.example.com", rules),
            server("wild", port, "*.wild.example.com", [direct(200, "wildcard\n")]),
            server("any", port, "*", [direct(200, "catch-all\n")]),
            server("strict", strict_port, "only.example.com", [direct(200, "only\n")]),
        ], api="gateway.tsb.tetrate.io/v2")),
    }
    gw = g.gateway(GW, resources, wait_ports=(port, strict_port))
    return {"gw": gw, "port": port, "strict_port": strict_port,
            "alpha": alpha, "beta": beta, "other": other}


def get(env, path="/", host="exact.example.com", hdrs=(), port=None):
    return http_get(GW, port or env["port"], path, host, hdrs)


# --- virtual hosts

@pytest.mark.parametrize("host", ["exact.example.com", "EXACT.Example.COM", "exact.example.com:8080",
                                  "exact.example.com."])
def test_exact_host_matches_case_insensitively_ignoring_port(env, host):
    r = get(env, "/exact", host)
    assert (r.status, r.body) == (200, b"exact-uri\n")


@pytest.mark.parametrize("host", ["a.wild.example.com", "X-Y.Wild.Example.Com:80"])
def test_wildcard_host_matches_one_more_label(env, host):
    r = get(env, "/", host)
    assert (r.status, r.body) == (200, b"wildcard\n")


@pytest.mark.parametrize("host", ["a.b.wild.example.com", "wild.example.com", "xwild.example.com"])
def test_wildcard_host_does_not_match_two_labels_or_the_bare_domain(env, host):
    r = get(env, "/", host)
    assert (r.status, r.body) == (200, b"catch-all\n")


def test_catch_all_host_takes_unknown_hosts(env):
    r = get(env, "/exact", "unknown.test")
    assert (r.status, r.body) == (200, b"catch-all\n")


def test_absolute_form_target_authority_selects_the_host(env):
    with HttpConn(GW, env["port"]) as c:
        c.send(b"GET http://exact.example.com/exact HTTP/1.1\r\nHost: unknown.test\r\n"
               b"Connection: close\r\n\r\n")
        r = c.read_response()
    assert (r.status, r.body) == (200, b"exact-uri\n")


def test_unknown_host_without_catch_all_is_404_no_route(env):
    gw = env["gw"]
    r = get(env, "/nowhere-host", "other.example.com", port=env["strict_port"])
    assert r.status == 404
    e = gw.wait_access(lambda e: e["path"] == "/nowhere-host")
    assert e["status"] == 404 and e["flag_set"] == {"NR"}
    assert get(env, "/", "only.example.com", port=env["strict_port"]).body == b"only\n"


def test_no_matching_rule_is_404_no_route(env):
    r = get(env, "/no-rule-matches-this")
    assert r.status == 404
    e = env["gw"].wait_access(lambda e: e["path"] == "/no-rule-matches-this")
    assert e["flag_set"] == {"NR"} and e["upstream"] == "-"


# --- rules

@pytest.mark.parametrize("path,body", [
    ("/exact", b"exact-uri\n"),
    ("/exact?q=1", b"exact-uri\n"),
    ("/prefix/", b"prefix-uri\n"),
    ("/prefix/deeper/still", b"prefix-uri\n"),
    ("/re/12345", b"regex-uri\n"),
])
def test_uri_match_exact_prefix_regex(env, path, body):
    r = get(env, path)
    assert (r.status, r.body) == (200, body)


@pytest.mark.parametrize("path", ["/exact/more", "/exac", "/prefix", "/re/12a", "/re/", "/x/re/1"])
def test_uri_match_rejects_near_misses(env, path):
    assert get(env, path).status == 404


@pytest.mark.parametrize("value,body", [
    ("blue", b"header-exact\n"),
    ("green", b"header-prefix\n"),
    ("v42", b"header-regex\n"),
])
def test_header_match_exact_prefix_regex(env, value, body):
    r = get(env, "/anything", hdrs=[("X-Variant", value)])
    assert (r.status, r.body) == (200, body)


@pytest.mark.parametrize("value", ["Blue", "bluer", "v4x", "red"])
def test_header_match_rejects_near_misses(env, value):
    assert get(env, "/anything", hdrs=[("x-variant", value)]).status == 404


def test_uri_and_header_in_one_match_must_both_hold(env):
    assert get(env, "/both", hdrs=[("x-both", "1")]).body == b"uri-and-header\n"
    assert get(env, "/both").status == 404
    assert get(env, "/neither", hdrs=[("x-both", "1")]).status == 404


def test_any_match_of_a_rule_selects_it(env):
    assert get(env, "/either-a").body == b"either-a-or-b\n"
    assert get(env, "/either-b").body == b"either-a-or-b\n"


def test_first_matching_rule_wins(env):
    # "/first/second" matches both the prefix rule and the later exact rule
    assert get(env, "/first/second").body == b"first\n"


def test_direct_response_status_and_body(env):
    r = get(env, "/teapot")
    assert r.status == 418
    assert r.body == b"short and stout\n"
    assert r.header("content-length") == str(len(r.body))


def test_redirect_defaults_to_301_keeping_host_and_scheme_http(env):
    r = get(env, "/redirect/old?x=1")
    assert r.status == 301
    assert r.header("location") == "http://exact.example.com/moved"


def test_redirect_with_scheme_authority_port_and_code(env):
    r = get(env, "/r302")
    assert r.status == 302
    assert r.header("location") == "https://new.example.com:8443/there"


# --- service destinations

def test_service_destination_round_robins_across_endpoints(env):
    # one connection is served by one worker, whose picks alternate strictly
    with HttpConn(GW, env["port"]) as c:
        order = []
        for i in range(20):
            r = c.get(f"/productpage?i={i}", "exact.example.com")
            assert r.status == 200, r
            assert r.body == f"productpage from {r.header('x-app-cluster')}\n".encode()
            order.append(r.header("x-app-cluster"))
    assert all(a != b for a, b in zip(order, order[1:])), order
    assert Counter(order) == {"alpha": 10, "beta": 10}
    # across connections (spread over the workers) both still get an even share
    seen = Counter(get(env, f"/productpage?c={i}").header("x-app-cluster") for i in range(40))
    assert set(seen) == {"alpha", "beta"} and abs(seen["alpha"] - seen["beta"]) <= 4, seen


def test_service_destination_uses_only_the_instances_own_cluster(env):
    seen = {get(env, "/productpage").header("x-app-cluster") for _ in range(10)}
    assert "cluster-2" not in seen
    dump = env["gw"].config_dump()
    addrs = {(e["address"], e["port"], e.get("cluster"))
             for d in dump["snapshot"]["destinations"] for e in d["endpoints"]}
    assert addrs == {(env["alpha"].host, env["alpha"].port, "cluster-1"),
                     (env["beta"].host, env["beta"].port, "cluster-1")}


def test_upstream_host_is_logged_per_request(env):
    r = get(env, "/productpage", hdrs=[("x-request-id", "route-log-1")])
    app = env["alpha"] if r.header("x-app-cluster") == "alpha" else env["beta"]
    e = env["gw"].wait_access(lambda e: e["rid"] == "route-log-1")
    assert e["status"] == 200 and e["flags"] == "-"
    assert e["upstream"] == f"{app.host}:{app.port}"
    assert e["authority"] == "exact.example.com"
    assert e["tx"] == len(r.body)
