"""The control plane that survives losing machines (issue 14, "Tests"): a 3-member etcd
(etcd_env.py), `crossgate control --store etcd://...` on it (one replica, or two sharing it),
an edge and two workload clusters in dynamic mode (dynamic_env.py), and a steady bounded load
through the edge during each scenario:

1. an etcd follower, then the leader, SIGKILLed: each change applied meanwhile is served, and
   no request fails;
2. one of two control replicas SIGKILLed: every gateway moves to the other with its instance
   (its lease outlives the move), no request fails, no snapshot drops an instance;
3. 200 applies from 4 concurrent clients while etcd members are killed and restarted: every
   acknowledged apply is stored with its content, none is half-applied;
4. every etcd member stopped for 10 s: no request fails, writes are refused with one line
   ("store unavailable: ..."), and the next write after etcd is back succeeds and is served;
5. etcd compacted past the revision a replica watches from: it lists again, and the edge it
   serves follows every change without a gap;

and one the scenarios led to: a replica that hangs (SIGSTOP) rather than dies, whose gateways
must move their watch to the other replica along with their heartbeat.

Scenarios 2 and 5 need replicas that share the store through an etcd watch (issue 14's
"Several replicas"); they fail until the store has one, and say what failed.

Everything runs on 127.0.97.0/24 (dynamic_env's layout with block 97; etcd members on
.31-.33, the second replica on .2), the control plane with --insecure (join tokens live in one
replica's DATA/tokens, which a second replica does not read). Every process is owned by the
`procs` fixture and stopped by pid at teardown, when a test fails too. Nothing waits with a
bare sleep: every wait polls a condition with a deadline; the 10 s outage of scenario 4 is
the scenario itself.
"""

import json
import threading
import time

import pytest

from dynamic_env import (DEADLINE, ControlPlane, Env, Load, describe_failures, get_json,  # noqa: F401
                         procs, snapshot_endpoints, wait_until)
from etcd_env import ETCD, SKIP_REASON, Etcd

pytestmark = pytest.mark.skipif(ETCD is None, reason=SKIP_REASON)

NET = 97
ETCD_HOSTS = [f"127.0.{NET}.{31 + i}" for i in range(3)]
REPLICA_2 = f"127.0.{NET}.2"

# the load through the edge: 2 keep-alive connections at 100 requests/s each
CONNS, RATE = 2, 100
# the last N responses that must all come from one cluster for "traffic moved"
SETTLED = 40


class HA:
    """etcd, the control replicas on it, and dynamic_env's topology.

    replicas: 1 or 2, each given every etcd member."""

    def __init__(self, procs, tmp, replicas=1):  # noqa: F811
        self.procs = procs
        self.etcd = Etcd(tmp, ETCD_HOSTS, procs=procs)
        self.env = Env(procs, tmp, block=NET, control_args=self.control_args(self.etcd.endpoints),
                       join_tokens=False)
        self.replicas = [self.env.cp]
        if replicas > 1:
            self.replicas.append(ControlPlane(procs, REPLICA_2, tmp / "data-2",
                                              extra=self.control_args(self.etcd.endpoints), name="control-2"))
        self.env.control_urls = ",".join(cp.url for cp in self.replicas)
        self.f_named_1 = self.env.edge_file("named-1", ("named", ["cluster-1"]))
        self.f_named_2 = self.env.f_edge["named-2"]

    @staticmethod
    def control_args(store):
        return ["--store", f"etcd://{store}", "--insecure"]

    @property
    def cp(self):
        return self.env.cp

    def start(self, gateway_urls=None, replicas_first=True):
        """etcd, the replicas (the first one takes the resources, the edge on auto), the apps,
        the ingress gateways and the edge; waits until the edge has both ingress instances.

        replicas_first=False: the other replicas start last, once the gateways have registered
        with the first one (they take its leases back from the store)."""
        env = self.env
        self.etcd.start()
        env.start_control()
        env.cp.apply(env.f_clusters, env.f_services, env.f_ingress[1], env.f_ingress[2], env.f_edge["auto"])
        if replicas_first:
            for cp in self.replicas[1:]:
                cp.start()
        if gateway_urls:
            env.control_urls = gateway_urls
        for k in (1, 2):
            env.start_app(k)
        for k in (1, 2):
            env.start_ingress(k)
        env.start_edge()
        env.wait_edge_endpoints((1, 2))
        if not replicas_first:
            for cp in self.replicas[1:]:
                cp.start()
        return self

    def load(self):
        ld = self.env.load(conns=CONNS, rate=RATE)
        ld.wait_all_on("cluster-1", n=SETTLED)
        return ld

    def gateways(self):
        return [self.env.edge, self.env.ingress[1], self.env.ingress[2]]


@pytest.fixture
def ha(procs, tmp_path):  # noqa: F811
    return HA(procs, tmp_path)


@pytest.fixture
def ha2(procs, tmp_path):  # noqa: F811
    return HA(procs, tmp_path, replicas=2)


def instances(cp):
    """{instance id: address} of the live instances cp knows."""
    return {i["id"]: i["address"] for i in get_json(cp.url + "/v1/instances")["instances"]}


def clusters(cp):
    """{name: the Cluster resource} as cp serves them."""
    return {r["name"]: r["resource"] for r in get_json(cp.url + "/v1/resources/cluster")["items"]}


class EdgeSampler:
    """Reads the edge's /config_dump every 20 ms from a thread: (time, version, endpoints) per
    sample, for "no snapshot dropped an instance" and "versions never went backwards"."""

    def __init__(self, env):
        self.env = env
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="edge-sampler", daemon=True)

    def start(self):
        self._t.start()
        self.env.procs.closers.append(self.stop)
        return self

    def _run(self):
        edge = self.env.edge
        while not self._stop.is_set():
            try:
                d = edge.config_dump()
                self.samples.append((time.monotonic(), d["version"], snapshot_endpoints(d["snapshot"])))
            except Exception:  # noqa: BLE001 - an unreadable admin endpoint is not a snapshot
                pass
            self._stop.wait(0.02)  # pacing, not synchronisation

    def stop(self):
        self._stop.set()
        if self._t.is_alive():
            self._t.join(5)
        return self.samples

    def problems(self, allowed):
        """What went wrong over the samples: a version lower than the one before, or endpoints
        that are none of the allowed sets."""
        out = []
        last = None
        for _, v, eps in self.samples:
            if last is not None and v < last:
                out.append(f"the edge's snapshot version went back from {last} to {v}")
            last = v
            if not any(eps == a for a in allowed):
                out.append(f"the edge's snapshot v{v} had endpoints {sorted(eps)}, expected one of "
                           f"{[sorted(a) for a in allowed]}")
        if not self.samples:
            out.append("no sample of the edge's /config_dump")
        return out[:5]


def soft_wait(problems, pred, what, timeout=DEADLINE, then=None):
    """wait_until, with a timeout recorded in problems rather than raised: a scenario of
    several steps reports every step that failed. then: a callable whose text is added to the
    record (the state found at the deadline)."""
    try:
        return wait_until(pred, timeout=timeout, what=what)
    except AssertionError as e:
        problems.append(str(e) + (f": {then()}" if then else ""))
        return None


def settled_on(ld, cluster):
    """The last SETTLED responses all came from cluster."""
    tail = ld.snapshot()[-SETTLED:]
    return len(tail) == SETTLED and all(r[3] == cluster for r in tail)


def cli_apply(cp, *paths):
    return cp.cli("apply", *sum((["-f", p] for p in paths), []), check=False)


# ---------------------------------------------------------------- 1. etcd members


def test_etcd_follower_then_leader_killed_changes_are_served_and_no_request_fails(ha):
    ha.start()
    ld = ha.load()

    follower = ha.etcd.followers()[0]
    follower.kill9()
    ha.cp.apply(ha.f_named_2)
    ld.wait_all_on("cluster-2", n=SETTLED)

    # back to three before the leader goes: one member of three would be no quorum
    ha.etcd.start_member(follower)
    wait_until(ha.etcd.healthy, what="the follower back and etcd healthy")
    leader = ha.etcd.leader()
    leader.kill9()
    t_kill = time.monotonic()
    ha.cp.apply(ha.f_named_1)
    print(f"\netcd leader {leader.name} killed -> the next apply returned after "
          f"{(time.monotonic() - t_kill) * 1000:.0f} ms")
    ld.wait_all_on("cluster-1", n=SETTLED)
    new_leader = ha.etcd.leader()
    assert new_leader is not leader

    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
    assert ha.cp.p.alive() and all(g.p.alive() for g in ha.gateways())


# ---------------------------------------------------------------- 2. a control replica


def test_control_replica_killed_gateways_move_to_the_other_with_their_leases_and_no_request_fails(ha2):
    ha2.start()
    a, b = ha2.replicas
    ld = ha2.load()
    held = instances(a)
    assert len(held) == 3, held
    both = {ha2.env.ingress_endpoint(1), ha2.env.ingress_endpoint(2)}
    sampler = EdgeSampler(ha2.env).start()
    problems = []

    a.kill9()
    t_kill = time.monotonic()
    # the same instances, not new registrations: each lease outlived its gateway's move
    # (a move slower than a lease TTL would have let it expire)
    moved = soft_wait(problems, lambda: instances(b) == held and all(f"trying {b.url}" in g.log()
                                                                      for g in ha2.gateways()),
                      what=f"replica 2 to serve the three instances {sorted(held.items())} under "
                           "their ids, each gateway moved to it",
                      then=lambda: f"it has {sorted(instances(b).items())}")
    if moved:
        print(f"\nreplica 1 killed -> the three instances on replica 2 after "
              f"{(time.monotonic() - t_kill) * 1000:.0f} ms")
    for g in ha2.gateways():
        if "registering again" in g.log():
            problems.append(f"{g.name} registered again with replica 2 (its lease was gone): "
                            + next(l for l in g.log().splitlines() if "registering again" in l))
    ld.wait_requests(CONNS * RATE)  # a second of traffic on replica 2's snapshots
    sampler.stop()
    problems += sampler.problems([both])

    # replica 2's own change reaches the edge
    r = cli_apply(b, ha2.f_named_2)
    if r.returncode != 0:
        problems.append(f"apply through replica 2: exit {r.returncode}: {r.stderr.strip()}")
    else:
        soft_wait(problems, lambda: settled_on(ld, "cluster-2"),
                  what="the edge to serve replica 2's change (named [cluster-2])")
    recs = ld.stop().snapshot()
    if Load.failures(recs):
        problems.append(describe_failures(recs))
    if not all(g.p.alive() for g in ha2.gateways()):
        problems.append("a gateway died")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- 3. acknowledged writes


CLIENTS, APPLIES = 4, 200
# Control replicas the writers are given (--control URL1,URL2). 2 once replicas share the store
# (issue 14, "Several replicas"): the chaos then kills and restarts replicas too, and every
# replica must serve what etcd holds.
WRITE_REPLICAS = 2


def pair_yaml(c, i):
    """One apply of client c: two Clusters with the same labels, all or nothing."""
    return "---\n".join(
        f"apiVersion: crossgate/v1\nkind: Cluster\nmetadata:\n  name: ha-{c}-{i}-{half}\n"
        f"  labels: {{client: \"{c}\", seq: \"{i}\"}}\nspec:\n  locality: {{region: region-9}}\n"
        for half in ("a", "b"))


def refused_clearly(r, replicas_killed=False):
    """A refused write says why: its last line names the store; any line before it is a
    replica that refused the connection (the CLI then tried the next). replicas_killed: the
    last line may also be the replica that died with the request (not sent elsewhere: it may
    have been applied)."""
    lines = r.stderr.strip().splitlines()
    reach = "cannot reach the control plane at"
    return (r.returncode != 0 and bool(lines)
            and ("store unavailable: " in lines[-1] or (replicas_killed and reach in lines[-1]))
            and all(reach in line for line in lines[:-1]))


@pytest.fixture
def ha_writes(procs, tmp_path):  # noqa: F811
    return HA(procs, tmp_path, replicas=WRITE_REPLICAS)


def test_acknowledged_applies_survive_etcd_members_killed_and_restarted(ha_writes):
    ha = ha_writes
    ha.start()
    ld = ha.load()
    files = ha.env.tmp / "writes"
    files.mkdir()
    results = {}  # (client, i) -> CompletedProcess
    lock = threading.Lock()
    urls = ha.env.control()

    def client(c):
        for i in range(APPLIES // CLIENTS):
            f = files / f"c{c}-{i}.yaml"
            f.write_text(pair_yaml(c, i))
            r = ha.cp.cli("apply", "-f", f, check=False, control=urls)
            with lock:
                results[(c, i)] = r

    def finished():
        with lock:
            return len(results)

    def after(n):
        """Waits until n more applies have finished (or all have)."""
        base = finished()
        wait_until(lambda: finished() >= min(base + n, APPLIES), timeout=30, what=f"{n} more applies")

    kills = []

    def chaos():
        # an etcd follower, the leader, (a replica,) in turn: one thing down at a time (two
        # members of three keep quorum), each for 8 applies
        turns = ["follower", "leader"] + ["replica"] * (len(ha.replicas) > 1)
        k = 0
        while finished() < APPLIES:
            turn = turns[k % len(turns)]
            if turn == "replica":
                victim = ha.replicas[(k // len(turns)) % len(ha.replicas)]
                victim.kill9()
                kills.append((turn, victim.name))
                after(8)
                victim.start()
            else:
                victim = ha.etcd.leader() if turn == "leader" else ha.etcd.followers()[0]
                victim.kill9()
                kills.append((turn, victim.name))
                after(8)
                ha.etcd.start_member(victim)
                wait_until(ha.etcd.healthy, timeout=20, what=f"{victim.name} back and etcd healthy")
            after(8)
            k += 1

    chaos_error = []

    def chaos_run():
        try:
            chaos()
        except Exception as e:  # noqa: BLE001 - reported below
            chaos_error.append(repr(e))

    # daemons: a test that fails while they run must not hold the interpreter open
    threads = [threading.Thread(target=client, args=(c,), name=f"client-{c}", daemon=True)
               for c in range(CLIENTS)]
    ct = threading.Thread(target=chaos_run, name="chaos", daemon=True)
    for t in threads:
        t.start()
    ct.start()
    for t in threads:
        t.join(120)
    ct.join(60)
    assert not chaos_error, chaos_error
    assert len(kills) >= 2, f"only {kills} killed while the applies ran"
    wait_until(ha.etcd.healthy, what="etcd healthy")

    acked = {k for k, r in results.items() if r.returncode == 0}
    refused = {k: r for k, r in results.items() if r.returncode != 0}
    unclear = {k: r.stderr.strip() for k, r in refused.items()
               if not refused_clearly(r, replicas_killed=len(ha.replicas) > 1)}
    assert not unclear, f"applies refused without the one clear line: {unclear}"

    stored = {}  # name -> labels, as etcd holds them
    for value in ha.etcd.range("/crossgate/resources/Cluster/").values():
        res = json.loads(json.loads(value)["json"])
        stored[res["metadata"]["name"]] = res["metadata"].get("labels", {})
    missing, half, wrong = [], [], []
    for c, i in sorted(results):
        names = [f"ha-{c}-{i}-a", f"ha-{c}-{i}-b"]
        present = [n in stored for n in names]
        if present[0] != present[1]:
            half.append((c, i, present))
        if (c, i) in acked:
            for n in names:
                if n not in stored:
                    missing.append(n)
                elif stored[n] != {"client": str(c), "seq": str(i)}:
                    wrong.append((n, stored[n]))
    print(f"\n{len(acked)} of {len(results)} applies acknowledged, {len(refused)} refused; killed in turn: {kills}")
    assert not missing, f"acknowledged but not in etcd: {missing}"
    assert not wrong, f"acknowledged with other content in etcd: {wrong}"
    assert not half, f"half-applied (one document of two stored): {half}"
    # every replica comes to serve what etcd holds (a replica restarted by the chaos, or whose
    # watch is reconnecting after a member came back, may be a moment behind)
    for cp in ha.replicas:
        def diff():
            served = {n: r["metadata"].get("labels", {}) for n, r in clusters(cp).items()}
            return sorted(n for n in served.keys() | stored.keys() if served.get(n) != stored.get(n)), served
        try:
            wait_until(lambda: not diff()[0], timeout=10, what=f"{cp.name} to serve what etcd holds")
        except AssertionError:
            d, served = diff()
            raise AssertionError(f"{cp.name} serves other Clusters than etcd holds: {len(d)} differ, "
                                 f"e.g. {[(n, served.get(n), stored.get(n)) for n in d[:4]]} (served, stored)")
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)


# ---------------------------------------------------------------- 4. etcd down


OUTAGE = 10.0


def test_etcd_down_for_10s_no_request_fails_writes_refused_in_one_line_then_recovers(ha):
    ha.start()
    ld = ha.load()
    pids = {p.name: p.pid for p in [ha.cp.p] + [g.p for g in ha.gateways()]}

    for m in ha.etcd.members:
        m.stop()
    t_down = time.monotonic()
    refusals = []
    while time.monotonic() - t_down < OUTAGE:
        r = cli_apply(ha.cp, ha.f_named_2)
        # one line, naming the store
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and refused_clearly(r), \
            f"exit {r.returncode}: {r.stdout}{r.stderr}"
        refusals.append(r.stderr.strip())
        # one refused write a second: the outage is the scenario's own 10 s
        ld.wait_requests(RATE * CONNS, timeout=DEADLINE)
    assert ld.snapshot()[-1][3] == "cluster-1"  # nothing changed while etcd was away
    print(f"\n{len(refusals)} writes refused while etcd was down, e.g.: {refusals[0]}")

    for m in ha.etcd.members:
        ha.etcd.start_member(m)
    # no restart of anything: the next write once etcd has a leader goes through
    t_up = time.monotonic()
    wait_until(lambda: cli_apply(ha.cp, ha.f_named_2).returncode == 0, timeout=20,
               what="an apply accepted once etcd is back")
    ld.wait_all_on("cluster-2", n=SETTLED)
    print(f"etcd restarted -> the first accepted apply served after {(time.monotonic() - t_up) * 1000:.0f} ms")

    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
    assert {p.name: p.pid for p in [ha.cp.p] + [g.p for g in ha.gateways()]} == pids
    assert ha.cp.p.alive() and all(g.p.alive() for g in ha.gateways())


# ---------------------------------------------------------------- 5. compaction


def test_etcd_compacted_past_a_watching_replica_it_lists_again_and_the_edge_sees_no_gap(procs, tmp_path):  # noqa: F811
    # replica 2 talks to one member (a follower) only, so that taking that member away holds its
    # watch at a revision that the compaction then removes; replica 1 (the writer) has every
    # member. The member is away for as short a time as one write and a compaction take.
    ha = HA(procs, tmp_path, replicas=2)
    ha.etcd.start()
    m0 = ha.etcd.followers()[0]
    ha.replicas[1].extra = HA.control_args(m0.endpoint)
    a, b = ha.replicas
    # the gateways watch replica 2 first
    ha.start(gateway_urls=f"{b.url},{a.url}")
    assert len(instances(b)) == 3
    ld = ha.load()
    sampler = EdgeSampler(ha.env).start()
    problems = []
    only_2 = {ha.env.ingress_endpoint(2)}
    only_1 = {ha.env.ingress_endpoint(1)}
    both = only_1 | only_2

    # a change written through replica 1 reaches the edge through replica 2's watch
    a.apply(ha.f_named_2)
    soft_wait(problems, lambda: settled_on(ld, "cluster-2"),
              what="the edge (watching replica 2) to serve the change applied through replica 1 "
                   "(named [cluster-2])")

    # replica 2's member goes; replica 1 writes on and the key space is compacted past the
    # revision replica 2's watch stands at
    marker = ha.env.files / "marker.yaml"
    marker.write_text(pair_yaml("marker", 0))
    m0.kill9()
    t_away = time.monotonic()
    a.apply(ha.f_named_1, marker)
    rev = ha.etcd.compact()
    ha.etcd.start_member(m0)
    wait_until(m0.healthy, what=f"{m0.name} back")
    print(f"\n{m0.name} (replica 2's member) away for {(time.monotonic() - t_away) * 1000:.0f} ms; "
          f"compacted at revision {rev}")
    soft_wait(problems, lambda: settled_on(ld, "cluster-1"),
              what=f"the edge to serve the change written while replica 2's member was away "
                   f"(etcd compacted at revision {rev})")
    soft_wait(problems, lambda: clusters(b) == clusters(a),
              what="replica 2 to list again and hold replica 1's resources",
              then=lambda: f"replica 2 has {sorted(clusters(b))}, replica 1 {sorted(clusters(a))}")
    if "compact" not in b.p.stderr().lower():
        problems.append("replica 2's log says nothing of the compaction (it should say it lists again)")
    # and follows the changes after it
    a.apply(ha.f_named_2)
    soft_wait(problems, lambda: settled_on(ld, "cluster-2"),
              what="the edge to serve the next change after the compaction")
    sampler.stop()
    problems += sampler.problems([both, only_1, only_2])
    recs = ld.stop().snapshot()
    if Load.failures(recs):
        problems.append(describe_failures(recs))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- a replica that hangs


def test_frozen_replica_the_gateways_watch_the_other_and_take_its_changes(ha2):
    """A replica that stops answering (SIGSTOP: a hung machine, or packets dropped) holds a
    gateway's long-poll watch open. Once its heartbeat has moved the gateway to the other
    replica, the watch must move too, not wait out its 30 s poll on the hung one. And the
    CLI given both reads from the other (a read may be sent twice; a write is not)."""
    # replica 2 starts after the gateways registered with replica 1, so it takes their leases
    # back from etcd and knows their instances: a heartbeat moved there is answered 200
    ha2.start(replicas_first=False)
    a, b = ha2.replicas
    assert set(instances(b)) == set(instances(a))
    # at once: replica 2 keeps the leases it took back for one TTL from its start, and only the
    # gateways' heartbeats renew them there (without a watch on etcd it sees no other renewal)
    a.p.freeze()
    ld = ha2.load()
    wait_until(lambda: all(f"trying {b.url}" in g.log() for g in ha2.gateways()),
               what="every gateway to move to replica 2 (its heartbeat to replica 1 timed out)")
    b.apply(ha2.f_named_2)
    ld.wait_all_on("cluster-2", n=SETTLED)
    for g in ha2.gateways():
        assert "registering again" not in g.log(), g.log()[-2000:]
    # the CLI given both reads from replica 2 once replica 1 has not answered in its try
    r = b.cli("get", "cluster", "-o", "json", check=False, control=ha2.env.control())
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"cannot reach the control plane at {a.url}: timed out" in r.stderr, r.stderr
    assert "cluster-edge" in r.stdout
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
