"""Edge gateway with every region down: every request is answered 503 within the retry policy's
attempts, concurrent failures retry only within the retry budget, and the hop header stops loops
between gateways."""

import http.client
import threading

from edge_env import HOSTNAME, describe, metric_sum, shares, wait_for
from edge_env import edge_topology_fixture  # noqa: F401  (provides the edge_topology fixture)

NET = "127.0.25"
OUT = ("unhealthy", "ejected")


def get(host, port, headers=None, timeout=5):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
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


def test_both_regions_down_answers_503_within_the_attempt_cap(edge_topology):
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
    slowest = max(r.end - r.start for r in down)  # reported, not asserted: wall time is the machine's

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


# The retry budget (docs/operations.md, DESIGN "Retries", Envoy's retry_budget): a retry may start
# only while the retries in flight stay below max(budget_min, budget_percent % of the requests in
# flight), counted per edge worker; a retry it cannot take waits for a slot up to the back-off cap
# (250 ms), then answers with flag UO. Defaults: 20 %,
# at least 3. One worker, so that the edge's count is the test's.
BUDGET_MIN, BUDGET_PERCENT = 3, 20
ATTEMPTS = 2  # retries after the first try
HUNG = {"retries": {"attempts": ATTEMPTS, "perTryTimeout": "2s"}, "healthCheck": {"enabled": False}}


def budget(active):
    return max(BUDGET_MIN, active * BUDGET_PERCENT // 100)


def hang_all(topo):
    """Every ingress stopped: connects succeed (the kernel's backlog), no answer ever comes, so
    each try lasts its whole per-try timeout and failed requests stay in flight together."""
    for c in topo.clusters.values():
        c.ingresses[0].freeze()


def concurrent_gets(topo, n):
    """n requests at once, one connection each; returns [(status, error)] once all are answered,
    and waits (with a deadline) until all n are in flight at the edge together."""
    results = [None] * n

    def one(i):
        try:
            results[i] = (get(topo.edge_addr, topo.edge_port, timeout=20)[0], None)  # 3 tries of 2 s
        except OSError as e:  # an assertion below names it
            results[i] = (0, repr(e))

    base = metric_sum(topo.edge.metrics(), "crossgate_downstream_rq_active")
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    # the premise of the arithmetic below: all n were in flight at one moment, before the first
    # per-try timeout (2 s) could answer one of them
    wait_for(lambda: metric_sum(topo.edge.metrics(), "crossgate_downstream_rq_active") - base >= n,
             timeout=1.5, what=f"{n} requests in flight at the edge at once")
    for t in threads:
        t.join(30)
    assert all(r is not None for r in results), "a request was never answered"
    return results


def outage_run(topo, n):
    """n concurrent requests against hung ingresses: (results, retries started, access entries)."""
    before = topo.edge.metrics()
    seen = len(topo.edge.access_entries())
    results = concurrent_gets(topo, n)
    retries = metric_sum(topo.edge.metrics(), "crossgate_upstream_rq_retry_total") - \
        metric_sum(before, "crossgate_upstream_rq_retry_total")
    wait_for(lambda: len(topo.edge.access_entries()) >= seen + n, what=f"{n} access log lines")
    return results, retries, topo.edge.access_entries()[seen:]


def test_concurrent_retries_within_the_budget_minimum_all_retry_to_the_attempt_cap(edge_topology):
    topo = edge_topology(NET, edge_workers=1, knobs=HUNG)
    hang_all(topo)
    n = BUDGET_MIN  # never more retries in flight than the budget's floor
    results, retries, entries = outage_run(topo, n)
    assert [s for s, _ in results] == [504] * n, results
    # the budget refused nothing: each request used every attempt the policy gives
    assert retries == ATTEMPTS * n, (retries, entries)
    assert all("UO" not in flags.split(",") and "URX" in flags.split(",") for _, flags, _ in entries), entries


def test_concurrent_failures_beyond_the_budget_are_answered_without_retry(edge_topology):
    topo = edge_topology(NET, edge_workers=1, knobs=HUNG)
    hang_all(topo)
    n = 20  # the budget is max(3, 20 % of 20) = 4 retries in flight
    allowed = budget(n)
    results, retries, entries = outage_run(topo, n)
    assert [s for s, _ in results] == [504] * n, results
    flags = [set(f.split(",")) for _, f, _ in entries]
    refused = [f for f in flags if "UO" in f]
    # all n failed their first try together; the budget lets at most `allowed` of them retry
    # (each up to the attempt cap); the others wait out the back-off cap for a slot, flagged UO
    assert retries <= ATTEMPTS * allowed, (retries, allowed, entries)
    assert retries >= BUDGET_MIN, (retries, entries)  # the floor always admits three
    assert len(refused) >= n - allowed, (allowed, entries)
    # without the budget, the policy alone would have allowed ATTEMPTS * n retries
    assert retries < ATTEMPTS * n
    assert all(f & {"UT"} for f in flags), entries
    print(f"\n[budget] {n} concurrent failures: {retries:.0f} retries (budget {allowed} in flight), "
          f"{len(refused)} answered with UO")
