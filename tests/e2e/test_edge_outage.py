"""Edge gateway with every region down: answers come fast (503), retries stay within the policy
and budget, and the hop header stops loops between gateways."""

import http.client

from edge_env import HOSTNAME, describe, metric_sum, shares
from edge_env import edge_topology_fixture  # noqa: F401  (provides the edge_topology fixture)

NET = "127.0.25"
OUT = ("unhealthy", "ejected")


def get(host, port, headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/productpage", headers={"Host": HOSTNAME, **(headers or {})})
        r = conn.getresponse()
        return r.status, r.getheader("x-app-cluster"), r.read().decode()
    finally:
        conn.close()


def test_hop_header_is_counted_across_gateways(edge_topology):
    topo = edge_topology(NET)
    # edge and ingress each count themselves: 6 arrives at the app as 8, 7 is refused by the
    # ingress, 8 by the edge
    assert get(topo.edge_addr, topo.edge_port, {"x-crossgate-hops": "6"})[:2] == (200, "cluster-1")
    status, _, body = get(topo.edge_addr, topo.edge_port, {"x-crossgate-hops": "7"})
    assert status == 508, body
    status, _, body = get(topo.edge_addr, topo.edge_port, {"x-crossgate-hops": "8"})
    assert status == 508 and "loop" in body, body
    assert topo.endpoint_state(topo.endpoint("cluster-1"))["requests"] == 2  # the 8 never left the edge


def test_both_regions_down_answers_503_fast_within_retry_budget(edge_topology):
    topo = edge_topology(NET)
    warm = topo.load(threads=4, rate=100, max_requests=200)
    warm.wait_done()
    assert shares(warm.snapshot()) == {"cluster-1": 1.0}, describe(warm.snapshot())
    before = topo.edge.metrics()  # nothing in flight: the deltas below are the outage's alone

    for c in topo.clusters.values():
        c.ingresses[0].kill9()
    load = topo.load(threads=4, rate=100, max_requests=800)
    for c in topo.clusters:
        topo.wait_health(topo.endpoint(c), OUT, timeout=5)
    load.wait_done()
    after = topo.edge.metrics()

    down = load.snapshot()
    assert len(down) == 800
    assert shares(down) == {"status:503": 1.0}, describe(down)
    slowest = max(r.end - r.start for r in down)
    assert slowest < 2.0, f"a request took {slowest:.2f}s"

    def delta(name):
        return metric_sum(after, name) - metric_sum(before, name)
    requests = delta("crossgate_downstream_rq_total")
    retries = delta("crossgate_upstream_rq_retry_total")
    upstream = delta("crossgate_upstream_rq_total")
    connect_failures = delta("crossgate_upstream_cx_endpoint_connect_fail_total")
    # a request whose pooled connection died with its ingress may go once more on a fresh
    # connection, outside the retry policy: at most once per connection pooled at the kill
    pooled = metric_sum(before, "crossgate_upstream_cx_active")
    assert requests == len(down)
    assert retries <= 2 * requests, (retries, requests)
    assert upstream <= requests + retries + pooled, (upstream, retries, requests, pooled)
    assert upstream <= 3 * requests + pooled, (upstream, requests, pooled)
    assert connect_failures <= upstream, (connect_failures, upstream)
    # each 503 says why: a connect failure after the retries ran out (URX), or with the retry
    # budget spent (UO)
    flags = {e[1] for e in topo.edge.access_entries() if e[0] == 503}
    assert flags and flags <= {"UF,URX", "UF,UO", "UF", "UH", "UH,URX"}, flags

    # the loop guard still answers when nothing upstream does
    status, _, body = get(topo.edge_addr, topo.edge_port, {"x-crossgate-hops": "8"})
    assert status == 508, body
    print(f"\n[outage] {requests:.0f} requests, {retries:.0f} retries, {upstream:.0f} upstream requests, "
          f"{connect_failures:.0f} connect failures, slowest {slowest:.3f}s, flags {sorted(flags)}")
