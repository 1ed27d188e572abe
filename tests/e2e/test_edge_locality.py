"""Edge gateway, locality priorities with several instances: Envoy's priority-load formula with
overprovisioning 1.4 spreads traffic between region-1 and region-2 as local instances fail.

Topology: cluster-1 and cluster-3 in region-1 with two ingress instances each (priority 0,
four instances), cluster-2 in region-2 with one (priority 1)."""

from edge_env import assert_all_ok, describe, shares, wait_for
from edge_env import edge_topology_fixture  # noqa: F401  (provides the edge_topology fixture)

NET = "127.0.24"
OUT = ("unhealthy", "ejected")


def test_half_of_local_instances_down_sends_30_percent_remote_and_all_down_all_remote(edge_topology):
    topo = edge_topology(NET, clusters=((1, "region-1", 2), (2, "region-2", 1), (3, "region-1", 2)))
    dest = topo.destination()
    assert sorted((e["cluster"], e["priority"]) for e in dest["endpoints"]) == \
        [("cluster-1", 0), ("cluster-1", 0), ("cluster-2", 1), ("cluster-3", 0), ("cluster-3", 0)]
    assert topo.priority_load() == {0: 100, 1: 0}

    load = topo.load(threads=4, rate=100, duration=60)
    load.wait_count(400)
    s = shares(load.snapshot())
    assert set(s) == {"cluster-1", "cluster-3"}, describe(load.snapshot())
    assert abs(s["cluster-1"] - 0.5) <= 0.1, describe(load.snapshot())

    # two of the four local instances go: local health 1.4 x 2/4 = 70 %
    for g in topo.clusters["cluster-1"].ingresses:
        g.kill9()
    for i in (1, 2):
        topo.wait_health(topo.endpoint("cluster-1", i), OUT, timeout=5)
    wait_for(lambda: topo.priority_load() == {0: 70, 1: 30}, timeout=5,
             what=f"load 70/30 (now {topo.priority_load()})")
    t0 = load.now()
    load.wait_count(1200, since=t0)
    half = load.window(t0)
    s = shares(half)
    assert set(s) == {"cluster-2", "cluster-3"}, describe(half)
    assert 0.60 <= s["cluster-3"] <= 0.80, describe(half)

    # the other two go as well: everything to region-2
    for g in topo.clusters["cluster-3"].ingresses:
        g.kill9()
    for i in (1, 2):
        topo.wait_health(topo.endpoint("cluster-3", i), OUT, timeout=5)
    wait_for(lambda: topo.priority_load() == {0: 0, 1: 100}, timeout=5,
             what=f"load 0/100 (now {topo.priority_load()})")
    t1 = load.now()
    load.wait_count(400, since=t1)
    load.stop()
    remote = load.window(t1)
    assert shares(remote) == {"cluster-2": 1.0}, describe(remote)

    recs = load.snapshot()
    assert_all_ok(topo, recs)
    print(f"\n[locality] two of four local down: local {s['cluster-3']:.3f} over {len(half)} requests")
