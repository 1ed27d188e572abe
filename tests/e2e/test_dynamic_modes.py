"""Dynamic mode: switching the edge Gateway between auto, named and weighted with `crossgate
apply` changes the traffic split under steady load, with no failed request.

* auto: every cluster serving the hostname, local region first: all traffic on cluster-1;
* weighted cluster-1: 50, cluster-2: 50: a strict split, about half each;
* named [cluster-2]: only cluster-2.

Layout and helpers: dynamic_env.py.
"""

import time

from dynamic_env import Load, describe_failures, env, procs, wait_until  # noqa: F401

SPLIT_REQUESTS = 1000  # at least this many for the weighted split
TOLERANCE = 0.10       # each cluster's share within 50 % +- 10 points


def switch(env, ld, variant, mode):
    """Applies an edge variant, waits for the edge to serve it; returns the time from which every
    request started runs under it."""
    v0 = env.edge.version()
    env.cp.apply(env.f_edge[variant])
    t_applied = time.monotonic()

    def serving():
        d = env.edge.config_dump()
        return d["version"] > v0 and d["snapshot"]["destinations"][0]["mode"] == mode
    wait_until(serving, timeout=5, what=f"the edge to serve the {variant} Gateway")
    return t_applied, time.monotonic()


def collect(ld, since, n, timeout=15):
    """At least n requests started at or after `since`."""
    wait_until(lambda: len(ld.since(since)) >= n, timeout=timeout, what=f"{n} requests")
    return ld.since(since)


def test_dynamic_apply_switches_edge_between_auto_weighted_and_named(env):
    env.start_all("auto")
    ld = env.load(conns=2, rate=400)

    # auto: local region first, all on cluster-1
    ld.wait_all_on("cluster-1", n=100)
    recs = collect(ld, time.monotonic(), 200)
    assert Load.by_cluster(recs) == {"cluster-1": len(recs)}

    # weighted 50/50
    t_applied, t = switch(env, ld, "weighted", "weighted")
    recs = collect(ld, t, SPLIT_REQUESTS)
    shares = Load.by_cluster(recs)
    assert set(shares) == {"cluster-1", "cluster-2"}, shares
    for c in ("cluster-1", "cluster-2"):
        share = shares[c] / len(recs)
        assert abs(share - 0.5) <= TOLERANCE, f"{c} got {share:.1%} of {len(recs)} requests: {shares}"
    print(f"\nweighted 50/50 over {len(recs)} requests: {shares} "
          f"(edge serving it {(t - t_applied) * 1000:.0f} ms after apply returned)")

    # named [cluster-2]: all on cluster-2
    t_applied, t = switch(env, ld, "named-2", "named")
    recs = collect(ld, t, 300)
    assert Load.by_cluster(recs) == {"cluster-2": len(recs)}, Load.by_cluster(recs)
    print(f"named [cluster-2]: {Load.by_cluster(recs)} "
          f"(edge serving it {(t - t_applied) * 1000:.0f} ms after apply returned)")

    # and back to auto: all on cluster-1 again
    t_applied, t = switch(env, ld, "auto", "auto")
    recs = collect(ld, t, 300)
    assert Load.by_cluster(recs) == {"cluster-1": len(recs)}, Load.by_cluster(recs)

    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
