"""Edge gateway, auto cluster list: locality preference and failover in the guide's "Workload
Cluster Failover" scenarios: ingress gateway killed, ingress hung, upstream service down, and
the ingress Gateway resource removed.

Topology (edge_env): edge in region-1; cluster-1 (region-1) and cluster-2 (region-2), one
ingress gateway and one productpage app each; steady load of keep-alive clients."""

import http.client

from edge_env import HOSTNAME, assert_all_ok, assert_back_on, describe, first_start, shares, wait_for
from edge_env import edge_topology_fixture  # noqa: F401  (provides the edge_topology fixture)

NET = "127.0.21"
OUT = ("unhealthy", "ejected")  # out of rotation: by the active check or by outlier detection


def report(name, **figures):
    """Failover figures, shown with `pytest -s`."""
    print(f"\n[{name}] " + ", ".join(f"{k}={v:.2f}s" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in figures.items()))


def on(cluster):
    return lambda r: r.cluster == cluster


def test_auto_keeps_all_traffic_in_the_local_cluster(edge_topology):
    topo = edge_topology(NET)
    load = topo.load(threads=4, rate=100, duration=20, max_requests=600)
    load.wait_done()
    recs = load.snapshot()
    assert len(recs) == 600
    assert shares(recs) == {"cluster-1": 1.0}, describe(recs)

    dest = topo.destination()
    assert dest["mode"] == "auto"
    assert topo.priority_load() == {0: 100, 1: 0}
    view = {e["cluster"]: (e["region"], e["priority"], e["health"], e["requests"]) for e in dest["endpoints"]}
    assert view == {"cluster-1": ("region-1", 0, "healthy", 600), "cluster-2": ("region-2", 1, "healthy", 0)}


def test_local_ingress_killed_fails_over_without_errors_and_returns(edge_topology):
    topo = edge_topology(NET)
    ep1 = topo.endpoint("cluster-1")
    ingress1 = topo.clusters["cluster-1"].ingresses[0]
    load = topo.load(threads=4, rate=100, duration=60)
    load.wait_count(200)
    assert shares(load.snapshot()) == {"cluster-1": 1.0}, describe(load.snapshot())

    t_kill = load.now()
    ingress1.kill9()
    _, out_after = topo.wait_health(ep1, OUT, timeout=5)
    load.wait_count(300, since=t_kill)
    after = load.window(t_kill)
    assert_all_ok(topo, after)
    assert shares(after) == {"cluster-2": 1.0}, describe(after)
    worst = max(r.end - r.start for r in load.window(t_kill - 0.5))
    last_c1 = max((r.end for r in load.snapshot() if r.cluster == "cluster-1"), default=t_kill)

    t_restart = load.now()
    topo.restart(ingress1)
    _, back_after = topo.wait_health(ep1, "healthy", timeout=10)
    assert_back_on(load, "cluster-1", load.now())
    load.stop()

    recs = load.snapshot()
    assert_all_ok(topo, recs)
    report("ingress-1 killed", out_of_rotation_after=out_after,
           last_cluster1_answer=max(last_c1 - t_kill, 0.0),
           slowest_request_across_kill=worst, healthy_after_restart=back_after,
           first_cluster1_after_restart=first_start(load.window(t_restart), on("cluster-1")) - t_restart,
           requests=len(recs))


def test_hung_local_ingress_leaves_rotation_within_3s_without_errors(edge_topology):
    topo = edge_topology(NET, knobs={"retries": {"perTryTimeout": "500ms"}})
    ep1 = topo.endpoint("cluster-1")
    ingress1 = topo.clusters["cluster-1"].ingresses[0]
    # three clients: a hang stalls every request in flight at once, and the retry budget admits
    # three concurrent retries (its minimum, per worker), as Envoy's default does; a fourth
    # stalled request on the same worker would be answered 504 UO,UT by design
    load = topo.load(threads=3, rate=130, duration=60)
    load.wait_count(200)

    t_stop = load.now()
    ingress1.freeze()
    state, out_after = topo.wait_health(ep1, OUT, timeout=5)
    assert out_after <= 3.5, f"hung ingress left rotation only after {out_after:.2f}s ({state})"
    # once the active health check has caught it, it stays out however its ejection runs
    _, unhealthy_after = topo.wait_health(ep1, "unhealthy", timeout=5)
    t_out = load.now()
    load.wait_until(t_out + 1.5)
    window = load.window(t_out + 0.6, t_out + 1.5)  # past the requests stalled before
    assert window and shares(window) == {"cluster-2": 1.0}, describe(window)
    worst = max(r.end - r.start for r in load.window(t_stop))

    t_cont = load.now()
    ingress1.thaw()
    _, back_after = topo.wait_health(ep1, "healthy", timeout=10)
    assert_back_on(load, "cluster-1", load.now())
    load.stop()

    assert_all_ok(topo, load.snapshot())
    report("ingress-1 hung", out_of_rotation_after=out_after, unhealthy_after=unhealthy_after,
           slowest_request_while_hung=worst, healthy_after_sigcont=back_after,
           first_cluster1_after_sigcont=first_start(load.window(t_cont), on("cluster-1")) - t_cont)


def test_local_service_down_is_retried_on_remote_cluster_and_ejected(edge_topology):
    topo = edge_topology(NET, knobs={"outlierDetection": {"baseEjectionTime": "1s", "maxEjectionTime": "2s"}})
    ep1 = topo.endpoint("cluster-1")
    c1 = topo.clusters["cluster-1"]
    load = topo.load(threads=4, rate=100, duration=60)
    load.wait_count(200)

    t_kill = load.now()
    c1.app.kill9()
    # the ingress itself is up and answers for its dead service with a 503
    conn = http.client.HTTPConnection(c1.ingress_addrs[0], topo.ingress_port, timeout=5)
    conn.request("GET", "/productpage", headers={"Host": HOSTNAME})
    r = conn.getresponse()
    assert r.status == 503, (r.status, r.read())
    conn.close()
    # the edge retries on cluster-2 and ejects cluster-1's ingress (passive health), while the
    # ingress keeps passing the active check: a service failure is not a cluster failure
    wait_for(lambda: topo.endpoint_state(ep1)["ejections"] >= 1, timeout=5, what="an ejection of ingress-1")
    seen = set()
    wait_for(lambda: seen.add(topo.endpoint_state(ep1)["health"]) or len(load.window(t_kill)) >= 600,
             what="600 requests since app-1 died, sampling ingress-1's health")
    assert "unhealthy" not in seen and "ejected" in seen, seen
    during = load.window(t_kill)
    assert_all_ok(topo, during)
    assert shares(during) == {"cluster-2": 1.0}, describe(during)
    ejections = topo.endpoint_state(ep1)["ejections"]

    t_restore = load.now()
    topo.restart(c1.app)
    _, back_after = topo.wait_health(ep1, "healthy", timeout=10)
    assert_back_on(load, "cluster-1", load.now())
    load.stop()

    assert_all_ok(topo, load.snapshot())
    report("app-1 killed", ejections=ejections, healthy_after_restore=back_after,
           first_cluster1_after_restore=first_start(load.window(t_restore), on("cluster-1")) - t_restore)


def ingress_reloaded(topo, cluster, version):
    g = topo.clusters[cluster].ingresses[0]
    return wait_for(lambda: g.config_version() > version, timeout=5, what=f"{g.name} reloaded")


def edge_has(topo, address):
    return address in [e["address"] for e in topo.destination()["endpoints"]]


def test_removed_ingress_gateway_resource_moves_traffic_without_errors(edge_topology):
    # the guide's easiest failure: delete bookinfo-ingress-1, then apply it again; here the
    # edge learns of the deletion first, then the ingress
    topo = edge_topology(NET)
    ep1 = topo.endpoint("cluster-1")
    load = topo.load(threads=4, rate=100, duration=40)
    load.wait_count(200)
    version = topo.edge.config_version()

    t_delete = load.now()
    topo.set_serving({"cluster-2"}, ingresses=False)
    wait_for(lambda: not edge_has(topo, ep1), timeout=5, what="cluster-1 gone from the edge's endpoints")
    assert topo.edge.config_version() > version
    t_gone = load.now()
    topo.set_serving({"cluster-2"}, edge=False)
    ingress_reloaded(topo, "cluster-1", 1)
    load.wait_until(t_gone + 1.0)
    assert shares(load.window(t_gone)) == {"cluster-2": 1.0}, describe(load.window(t_gone))

    # make before break: the ingress serves the hostname again before the edge sends to it (were
    # the edge first, its first requests would be refused and eject ingress-1 for 5 s: correct,
    # but then the return waits for the ejection to end)
    t_apply = load.now()
    topo.set_serving({"cluster-1", "cluster-2"}, edge=False)
    ingress_reloaded(topo, "cluster-1", 2)
    topo.set_serving({"cluster-1", "cluster-2"}, ingresses=False)
    wait_for(lambda: edge_has(topo, ep1), timeout=5, what="cluster-1 back among the edge's endpoints")
    t_back = load.now()
    assert_back_on(load, "cluster-1", t_back)
    load.stop()

    assert_all_ok(topo, load.snapshot())
    report("bookinfo-ingress-1 deleted", reconfigured_after=t_gone - t_delete, back_after=t_back - t_apply)


def test_ingress_dropping_its_gateway_before_the_edge_does_not_fail_requests(edge_topology):
    # the other order: the ingress closes its listener while the edge still sends to it on
    # pooled keep-alive connections. Those requests must not be answered 404 (no route), which
    # the edge does not retry: a removed listener's connections close, and the edge retries.
    topo = edge_topology(NET)
    ep1 = topo.endpoint("cluster-1")
    load = topo.load(threads=4, rate=100, duration=40)
    load.wait_count(200)

    topo.set_serving({"cluster-2"}, edge=False)
    ingress_reloaded(topo, "cluster-1", 1)
    t_ingress = load.now()
    load.wait_until(t_ingress + 1.0)  # the edge still routes to ingress-1 meanwhile
    topo.set_serving({"cluster-2"}, ingresses=False)
    wait_for(lambda: not edge_has(topo, ep1), timeout=5, what="cluster-1 gone from the edge's endpoints")
    t_gone = load.now()
    load.wait_until(t_gone + 0.5)
    load.stop()
    assert_all_ok(topo, load.snapshot())
    after = load.window(t_ingress + 0.1)  # the workers pick up a config between events
    assert shares(after) == {"cluster-2": 1.0}, describe(after)
