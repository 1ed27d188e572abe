"""Edge gateway, weighted cluster list: a strict split by weight with no failover and no health
checking; a share that has nowhere to go is answered 503, as the guide warns."""

import http.client

from edge_env import HOSTNAME, describe, route_rule, shares, wait_for
from edge_env import edge_topology_fixture  # noqa: F401  (provides the edge_topology fixture)

NET = "127.0.23"
WEIGHTED = [route_rule({"cluster-1": 50, "cluster-2": 50})]


def test_weighted_split_is_strict_and_does_not_fail_over(edge_topology):
    topo = edge_topology(NET, edge_rules=WEIGHTED)
    dest = topo.destination()
    assert dest["mode"] == "weighted"
    assert [(c["cluster"], c["weight"], c["endpoints"]) for c in dest["clusters"]] == \
        [("cluster-1", 50, 1), ("cluster-2", 50, 1)]

    load = topo.load(threads=4, rate=None, duration=30, max_requests=2400)
    load.wait_done()
    recs = load.snapshot()
    assert len(recs) >= 2000
    s = shares(recs)
    assert set(s) == {"cluster-1", "cluster-2"}, describe(recs)
    assert abs(s["cluster-1"] - 0.5) <= 0.05, describe(recs)

    ep2 = topo.endpoint("cluster-2")
    topo.clusters["cluster-2"].ingresses[0].kill9()
    outage = topo.load(threads=4, rate=None, duration=30, max_requests=2000)
    outage.wait_done()
    after = outage.snapshot()
    assert len(after) >= 2000
    s = shares(after)
    assert "cluster-2" not in s, f"weighted mode failed over or reached a dead cluster: {describe(after)}"
    assert set(s) == {"cluster-1", "status:503"}, describe(after)
    assert 0.40 <= s["status:503"] <= 0.60, describe(after)
    # every 503 is cluster-2's share: a connect failure to its ingress, retried in place only
    n503 = round(s["status:503"] * len(after))
    log = wait_for(lambda: [e for e in topo.edge.access_entries() if e[0] == 503] if len(
        [e for e in topo.edge.access_entries() if e[0] == 503]) >= n503 else None,
        what=f"{n503} 503s in the access log (written in batches)")
    assert len(log) == n503, (len(log), describe(after))
    assert all(e[2] == ep2 and "UF" in e[1].split(",") for e in log), log[:5]
    # and nothing was checked or ejected behind the scenes
    assert "health check" not in topo.edge.stderr() and "outlier" not in topo.edge.stderr()


def test_weighted_cluster_without_gateway_answers_no_healthy_upstream(edge_topology):
    # the guide's "remove the Gateway resource" failure, under weights: cluster-2's half has no
    # ingress gateway to go to
    topo = edge_topology(NET, edge_rules=WEIGHTED, serve={"cluster-1"})
    assert f"weighted cluster cluster-2 has no Gateway serving {HOSTNAME}" in topo.edge.stderr()
    conn = http.client.HTTPConnection(topo.edge_addr, topo.edge_port, timeout=5)
    answers = {}
    for _ in range(200):
        conn.request("GET", "/productpage", headers={"Host": HOSTNAME})
        r = conn.getresponse()
        key = (r.status, r.getheader("x-app-cluster"), r.read().decode().strip())
        answers[key] = answers.get(key, 0) + 1
    conn.close()
    assert set(answers) == {(200, "cluster-1", "productpage from cluster-1"),
                            (503, None, "no healthy upstream")}, answers
    assert 80 <= answers[(503, None, "no healthy upstream")] <= 120, answers
    assert all("UH" in e[1].split(",") for e in topo.edge.access_entries() if e[0] == 503)
