"""Edge gateway, ordered failover across three regions (failoverSettings.regionalFailover): an
edge in region-1 with `regionalFailover: [{from: region-1, to: region-3}]` sends to region-1,
then region-3, and only then region-2; traffic comes back in the same order.

Topology: the edge in region-1; cluster-1 in region-1, cluster-2 in region-2, cluster-3 in
region-3, one ingress instance each."""

from edge_env import assert_all_ok, assert_back_on, describe, shares, wait_for
from edge_env import edge_topology_fixture  # noqa: F401  (provides the edge_topology fixture)

NET = "127.0.93"
OUT = ("unhealthy", "ejected")
REGIONS = ((1, "region-1", 1), (2, "region-2", 1), (3, "region-3", 1))
KNOBS = {
    "failoverSettings": {"regionalFailover": [{"from": "region-1", "to": "region-3"}]},
    # a hung ingress costs a request 500 ms, then it is retried elsewhere
    "retries": {"perTryTimeout": "500ms"},
    "outlierDetection": {"baseEjectionTime": "1s", "maxEjectionTime": "2s"},
}


def on_only(load, cluster, t, n=200):
    """The n requests started after load time t all went to cluster."""
    load.wait_count(n, since=t)
    recs = load.window(t)
    assert shares(recs) == {cluster: 1.0}, describe(recs)


def test_region_1_fails_over_to_region_3_before_region_2(edge_topology):
    topo = edge_topology(NET, clusters=REGIONS, knobs=KNOBS)
    dest = topo.destination()
    assert sorted((e["cluster"], e["region"], e["priority"]) for e in dest["endpoints"]) == [
        ("cluster-1", "region-1", 0), ("cluster-2", "region-2", 2), ("cluster-3", "region-3", 1)]
    assert topo.priority_load() == {0: 100, 1: 0, 2: 0}
    ep1, ep3 = topo.endpoint("cluster-1"), topo.endpoint("cluster-3")
    ingress1 = topo.clusters["cluster-1"].ingresses[0]
    ingress3 = topo.clusters["cluster-3"].ingresses[0]

    # three clients: a hung ingress stalls each request in flight, and the retry budget admits
    # three concurrent retries per worker (see test_edge_auto's hung-ingress test)
    load = topo.load(threads=3, rate=100, duration=90)
    on_only(load, "cluster-1", 0)

    # region-1's cluster crashes: region-3 takes all of it, region-2 none
    ingress1.kill9()
    topo.wait_health(ep1, OUT, timeout=5)
    wait_for(lambda: topo.priority_load() == {0: 0, 1: 100, 2: 0}, timeout=5,
             what=f"load 0/100/0 (now {topo.priority_load()})")
    t_r3 = load.now()
    on_only(load, "cluster-3", t_r3)

    # region-3's cluster hangs as well: now region-2
    t_freeze = load.now()
    ingress3.freeze()
    topo.wait_health(ep3, OUT, timeout=5)
    wait_for(lambda: topo.priority_load() == {0: 0, 1: 0, 2: 100}, timeout=5,
             what=f"load 0/0/100 (now {topo.priority_load()})")
    t_r2 = load.now()
    load.wait_until(t_r2 + 1.0)  # past the requests stalled on the hung ingress
    on_only(load, "cluster-2", t_r2 + 1.0)

    # back in order: region-3 first, then home
    ingress3.thaw()
    topo.wait_health(ep3, "healthy", timeout=10)
    assert_back_on(load, "cluster-3", load.now())
    topo.restart(ingress1)
    topo.wait_health(ep1, "healthy", timeout=10)
    assert_back_on(load, "cluster-1", load.now())
    load.stop()

    recs = load.snapshot()
    assert_all_ok(topo, recs)
    # until region-3 went too, not one request (retries included) reached region-2
    before = load.window(None, t_freeze)
    assert "cluster-2" not in shares(before), describe(before)
    print(f"\n[failover-order] {len(recs)} requests, none failed; shares {shares(recs)}")


def test_without_regional_failover_every_remote_region_shares_one_priority(edge_topology):
    topo = edge_topology(NET, clusters=REGIONS)
    dest = topo.destination()
    assert sorted((e["cluster"], e["priority"]) for e in dest["endpoints"]) == [
        ("cluster-1", 0), ("cluster-2", 1), ("cluster-3", 1)]
    assert topo.priority_load() == {0: 100, 1: 0}
