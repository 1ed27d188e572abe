"""Dynamic mode under steady load: a control plane, an edge and two workload clusters (each an
ingress gateway + productpage), every gateway following the control plane (`--control`).
Resources come and go with `crossgate apply/delete`, ingress gateways and the control plane are
killed with SIGKILL and restarted, and the edge keeps answering every request. Every scenario
runs twice: gateways in plain text, then with edge -> ingress mTLS (mesh identities on every
gateway, DESIGN's 15443 hop).

Layout and helpers: dynamic_env.py. The edge is in region-1 with cluster-1, so with both
clusters up all traffic goes to cluster-1 (priority 0) and cluster-2 (region-2) is the failover.
"""

import time

import pytest

from support import http_request
from dynamic_env import (Load, describe_failures, env_both, procs, request_once,  # noqa: F401
                         wait_until)


@pytest.fixture(name="env")
def env_fixture(env_both):  # noqa: F811
    return env_both

# How long "all traffic has moved" must hold before we call it moved: this many responses in a row.
STREAK = 100


def start_loaded(env, **kw):
    env.start_all(**kw)
    ld = env.load()
    ld.wait_all_on("cluster-1", n=STREAK)
    return ld


def last_on(records, cluster):
    """End time of the last response from cluster (None: there was none)."""
    ends = [r[1] for r in records if r[3] == cluster]
    return max(ends) if ends else None


def test_dynamic_delete_workload_gateway_moves_traffic_to_cluster_2_without_errors(env):
    ld = start_loaded(env)
    t_delete = time.monotonic()
    env.cp.delete(env.f_ingress[1])
    t_returned = time.monotonic()
    ld.wait_all_on("cluster-2", n=STREAK, timeout=5)
    recs = ld.snapshot()
    last1 = last_on(recs, "cluster-1")
    moved_ms = (last1 - t_returned) * 1000
    assert moved_ms < 1000, f"cluster-1 answered {moved_ms:.0f} ms after delete returned"
    assert not any(r[3] == "cluster-1" for r in recs if r[0] > t_returned + 1.0)
    env.wait_edge_endpoints((2,), timeout=2)
    print(f"\ndelete -> last cluster-1 response {moved_ms:.0f} ms after delete returned "
          f"(delete took {(t_returned - t_delete) * 1000:.0f} ms)")

    # apply it again: cluster-1 (the edge's own region) takes the traffic back
    env.cp.apply(env.f_ingress[1])
    t_applied = time.monotonic()
    back = ld.wait_all_on("cluster-1", n=STREAK, timeout=10)
    recs = ld.stop().snapshot()
    first1 = min(r[1] for r in recs if r[3] == "cluster-1" and r[0] >= t_applied)
    print(f"apply -> first cluster-1 response {(first1 - t_applied) * 1000:.0f} ms, all on cluster-1 "
          f"{(back - t_applied) * 1000:.0f} ms after apply returned; {len(recs)} requests")
    assert not Load.failures(recs), describe_failures(recs)
    env.wait_edge_endpoints((1, 2), timeout=2)


def test_dynamic_killed_ingress_leaves_edge_snapshot_and_returns_after_restart(env):
    ld = start_loaded(env)
    ing1 = env.ingress[1]
    ing1.kill9()
    t_kill = time.monotonic()
    # the lease (TTL 3 s, swept every 250 ms) expires and the edge gets a snapshot without it
    env.wait_edge_endpoints((2,), timeout=6, what="cluster-1's endpoint to leave the edge snapshot")
    gone_ms = (time.monotonic() - t_kill) * 1000
    # the last heartbeat was at most 1 s before the kill: the lease ran out, nothing else
    assert gone_ms >= 1900, f"the endpoint left after {gone_ms:.0f} ms, before the lease could expire"
    ld.wait_all_on("cluster-2", n=STREAK, timeout=2)
    recs = ld.snapshot()
    last1 = last_on(recs, "cluster-1")
    print(f"\nSIGKILL ingress-1 -> last cluster-1 response {(last1 - t_kill) * 1000:.0f} ms after the kill, "
          f"endpoint out of the edge snapshot after {gone_ms:.0f} ms")
    assert not Load.failures(recs), describe_failures(recs)

    # restarted (same identity and address): it registers again and takes the traffic back
    t_restart = time.monotonic()
    env.start_ingress(1)
    env.wait_edge_endpoints((1, 2), timeout=5, what="cluster-1's endpoint back in the edge snapshot")
    back_in_ms = (time.monotonic() - t_restart) * 1000
    # the endpoint may still sit out an outlier ejection from the crash (5 s at most)
    back = ld.wait_all_on("cluster-1", n=STREAK, timeout=12)
    recs = ld.stop().snapshot()
    print(f"restart ingress-1 -> in the edge snapshot after {back_in_ms:.0f} ms, "
          f"all traffic on cluster-1 after {(back - t_restart) * 1000:.0f} ms; {len(recs)} requests")
    assert not Load.failures(recs), describe_failures(recs)


def test_dynamic_killed_control_plane_gateways_keep_serving_and_resync_after_restart(env):
    # the edge first: after the restart it is likely to register again before the ingresses
    ld = start_loaded(env, edge_first=True)
    gateways = [env.edge, env.ingress[1], env.ingress[2]]
    pids = [g.pid for g in gateways]
    v_edge = env.edge.version()
    env.cp.kill9()
    # every gateway notices (heartbeat or watch fails) and says it keeps its config
    for g in gateways:
        wait_until(lambda: "until it is back" in g.log(), timeout=5, what=f"{g.name} to log the lost control plane")
    n = ld.count()
    ld.wait_requests(300, after=n)
    assert all(r[3] == "cluster-1" for r in ld.snapshot()[n:]), "traffic moved while the control plane was away"
    assert env.edge.version() == v_edge

    # restarted on the same data: the gateways register again on their own
    env.cp.start()
    wait_until(lambda: len(env.cp.status()["instances"]) == 3, timeout=8,
               what="the three gateways to register with the restarted control plane")
    # and follow changes: the edge switches to cluster-2 only when told so
    env.cp.apply(env.f_edge["named-2"])
    t_applied = time.monotonic()
    wait_until(lambda: env.edge.version() > v_edge and
               env.edge.config_dump()["snapshot"]["destinations"][0]["mode"] == "named",
               timeout=6, what="the edge to take the named snapshot")
    moved = ld.wait_all_on("cluster-2", n=STREAK, timeout=5)
    recs = ld.stop().snapshot()
    # within the control plane's resync window (one lease TTL after its start) the edge keeps
    # the snapshot it had; the change reaches it when the window ends
    print(f"\ncontrol plane restarted -> named [cluster-2] applied, all on cluster-2 "
          f"{(moved - t_applied) * 1000:.0f} ms after apply returned; {len(recs)} requests")
    assert [g.pid for g in gateways] == pids and all(g.p.alive() for g in gateways), "a gateway restarted"
    assert not Load.failures(recs), describe_failures(recs)


def test_dynamic_gateway_restarted_while_control_plane_is_down_serves_from_cache(env):
    env.start_control()
    env.cp.apply(env.f_clusters, env.f_services, env.f_ingress[1], env.f_ingress[2], env.f_edge["auto"])
    for k in (1, 2):
        env.start_app(k)
    ing1 = env.start_ingress(1, cache=True)
    env.start_ingress(2)
    edge = env.start_edge()  # no cache: it must not matter to ingress-1
    env.wait_edge_endpoints((1, 2))
    assert request_once(env.ingress_host[1], env.ingress_port)[:2] == (200, "cluster-1")
    cached = list(env.cache.glob("snapshot-*.json"))
    assert cached, f"nothing cached in {env.cache}"
    v1 = ing1.version()

    env.cp.kill9()
    wait_until(lambda: "until it is back" in ing1.log(), timeout=5, what="ingress-1 to notice")
    ing1.kill9()
    assert not ing1.p.alive()
    ing1.start()  # same flags, same cache dir; the control plane is still down
    wait_until(lambda: ing1.ready(), timeout=5, what="the restarted ingress-1 /ready")
    assert "serving cached snapshot" in ing1.log()
    assert ing1.version() == v1
    wait_until(lambda: request_once(env.ingress_host[1], env.ingress_port)[:2] == (200, "cluster-1"),
               timeout=5, what="the restarted ingress-1 to serve")
    for _ in range(20):
        st, cluster, body = request_once(env.ingress_host[1], env.ingress_port)
        assert (st, cluster, body) == (200, "cluster-1", b"productpage from cluster-1\n")
    # and through the edge, which kept its own config in memory
    for _ in range(20):
        assert request_once(env.edge_host, env.edge_port)[:2] == (200, "cluster-1")
    assert edge.p.alive()


def test_dynamic_control_plane_stopped_10s_drops_no_live_instance(env):
    # a stalled control plane (SIGSTOP: swapped out, starved, paused VM) must not expire every
    # lease the moment it runs again: only heartbeats missed while it ran count
    env.start_all()
    before = {i["id"] for i in env.cp.status()["instances"]}
    assert len(before) == 3
    env.cp.p.freeze()
    t_stop = time.monotonic()
    wait_until(lambda: time.monotonic() - t_stop >= 10, timeout=15, what="10 s of the control plane stopped")
    env.cp.p.thaw()
    # for two lease TTLs after it runs again, the edge's snapshot always has both ingresses
    t_cont = time.monotonic()
    seen = set()
    while time.monotonic() - t_cont < 6:
        eps = env.edge.endpoints()
        assert eps == {env.ingress_endpoint(1), env.ingress_endpoint(2)}, f"the edge lost an ingress: {eps}"
        seen.add(env.edge.version())
    st = env.cp.status()
    assert {i["id"] for i in st["instances"]} == before, "an instance was dropped and registered again"
    m = http_request("GET", env.cp.url + "/metrics", headers={"Authorization": f"Bearer {env.cp.token}"})[2].decode()
    assert "crossgate_control_leases_expired_total 0" in m, m
    assert "crossgate_control_stalls_total 1" in m
