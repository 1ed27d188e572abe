"""Edge gateway, named cluster list: the same locality preference and failover as auto, over the
named clusters only; a named cluster without a Gateway serving the hostname is skipped; and the
guide's per-service health-check rule (x-healthcheck: true → cluster-1 only)."""

from edge_env import HOSTNAME, assert_all_ok, describe, ingress_gateway_doc, route_rule, shares
from edge_env import edge_topology_fixture  # noqa: F401  (provides the edge_topology fixture)

NET = "127.0.22"
OUT = ("unhealthy", "ejected")
NAMED = "clusters:" + HOSTNAME + ":named:"


def test_named_list_prefers_local_and_fails_over_only_to_named_clusters(edge_topology):
    # cluster-4 is local (region-1) and serves the hostname: auto would use it, named must not;
    # the list's order says nothing about preference: locality does
    topo = edge_topology(NET, clusters=((1, "region-1", 1), (2, "region-2", 1), (4, "region-1", 1)),
                         edge_rules=[route_rule(["cluster-2", "cluster-1"])])
    dest = topo.destination()
    assert dest["mode"] == "named"
    assert sorted((e["cluster"], e["priority"]) for e in dest["endpoints"]) == \
        [("cluster-1", 0), ("cluster-2", 1)]
    assert topo.priority_load() == {0: 100, 1: 0}

    load = topo.load(threads=4, rate=100, duration=40)
    load.wait_count(200)
    assert shares(load.snapshot()) == {"cluster-1": 1.0}, describe(load.snapshot())

    t_kill = load.now()
    topo.clusters["cluster-1"].ingresses[0].kill9()
    topo.wait_health(topo.endpoint("cluster-1"), OUT, timeout=5)
    load.wait_count(300, since=t_kill)
    load.stop()
    after = load.window(t_kill)
    assert_all_ok(topo, after)
    assert shares(after) == {"cluster-2": 1.0}, describe(after)
    assert topo.priority_load() == {0: 0, 1: 100}
    assert_all_ok(topo, load.snapshot())


def test_named_cluster_without_gateway_for_the_host_is_skipped(edge_topology):
    # cluster-3: a Cluster in region-1 with a running ingress instance whose Gateway serves
    # another hostname only
    topo = edge_topology(
        NET, clusters=((1, "region-1", 1), (2, "region-2", 1), (3, "region-1", 1)),
        serve={"cluster-1", "cluster-2"},
        extra_docs=lambda t: [ingress_gateway_doc(t.clusters["cluster-3"], t.ingress_port,
                                                  "ratings.tse.tetratelabs.io")],
        edge_rules=[route_rule(["cluster-1", "cluster-3", "cluster-2"])])
    dest = topo.destination(name=NAMED + "cluster-1,cluster-3,cluster-2")
    assert sorted(e["cluster"] for e in dest["endpoints"]) == ["cluster-1", "cluster-2"], dest
    assert topo.endpoint("cluster-3") not in [e["address"] for e in dest["endpoints"]]
    assert f"named cluster cluster-3 has no Gateway serving {HOSTNAME}" in topo.edge.stderr()

    load = topo.load(threads=4, rate=100, duration=30)
    load.wait_count(200)
    assert shares(load.snapshot()) == {"cluster-1": 1.0}, describe(load.snapshot())
    # even with the local cluster gone, the skipped local cluster-3 gets nothing
    t_kill = load.now()
    topo.clusters["cluster-1"].ingresses[0].kill9()
    topo.wait_health(topo.endpoint("cluster-1"), OUT, timeout=5)
    load.wait_count(200, since=t_kill)
    load.stop()
    assert shares(load.window(t_kill)) == {"cluster-2": 1.0}, describe(load.window(t_kill))


def test_healthcheck_rule_fails_with_its_cluster_while_other_traffic_fails_over(edge_topology):
    # examples/edge-named.yaml: the health-check rule first, then the named list
    topo = edge_topology(NET, edge_rules=[route_rule(["cluster-1"], {"x-healthcheck": "true"}),
                                          route_rule(["cluster-1", "cluster-2"])])
    hc_dest = NAMED + "cluster-1"
    ep1 = topo.endpoint("cluster-1")
    assert [e["cluster"] for e in topo.destination(name=hc_dest)["endpoints"]] == ["cluster-1"]

    traffic = topo.load(threads=3, rate=100, duration=40)
    probes = topo.load(threads=1, rate=50, duration=40, headers={"x-healthcheck": "true"})
    probes.wait_count(50)
    traffic.wait_count(200)
    assert shares(probes.snapshot()) == {"cluster-1": 1.0}, describe(probes.snapshot())
    assert shares(traffic.snapshot()) == {"cluster-1": 1.0}, describe(traffic.snapshot())

    t_kill = traffic.now()
    topo.clusters["cluster-1"].ingresses[0].kill9()
    topo.wait_health(ep1, OUT, timeout=5, name=hc_dest)
    topo.wait_health(ep1, OUT, timeout=5)
    probes.wait_count(50, since=t_kill)
    traffic.wait_count(300, since=t_kill)
    probes.stop()
    traffic.stop()

    hc_after = probes.window(t_kill)
    statuses = {r.status for r in hc_after}
    assert statuses == {503}, f"health-check requests after the kill: {describe(hc_after)}"
    assert all(r.end - r.start < 2.0 for r in hc_after), max(r.end - r.start for r in hc_after)
    after = traffic.window(t_kill)
    assert_all_ok(topo, after)
    assert shares(after) == {"cluster-2": 1.0}, describe(after)
    assert_all_ok(topo, traffic.snapshot())
    # the edge says why: no healthy upstream or a connect failure, never an upstream in cluster-2
    hc_log = [e for e in topo.edge.access_entries() if e[0] == 503]
    assert hc_log and all(e[2] in (ep1, "-") for e in hc_log), hc_log[:5]
    assert all(set(e[1].split(",")) & {"UH", "UF"} for e in hc_log), hc_log[:5]
