"""Make-before-break: the control plane sends a change's snapshots in an order that never refuses
traffic. When a change gives an ingress a listener the edge will send to, the edge's snapshot
waits until the ingress serves its own (it listens); when a change takes a listener away, the
ingress's snapshot waits until the edge no longer sends to it.

Each scenario makes one gateway slow to take its snapshot: its link to the control plane runs
through a relay (below) that holds what the control plane sends it, while the gateway itself keeps
serving. That is the race both orders close, made to happen every time instead of once in a while.

Every scenario runs on both stores: SQLite, and etcd (one member, started by the test; skipped
without Debian's etcd). The order lives in the control plane's memory, so it is the same on both.

Topology: dynamic_env.Env on 127.0.96.0/24 (this module's block): control plane .1, relays .2,
etcd .3, edge .5, ingress-1 .11, ingress-2 .21, apps .15 and .25. The edge is in region-1 with
cluster-1, so with both clusters up every request goes to cluster-1.
"""

import re
import socket
import threading

import pytest

from support import http_request, tcp_connectable, wait_until
from dynamic_env import Env, Load, describe_failures, procs  # noqa: F401
from etcd_env import ETCD, Etcd

BLOCK = 96
RELAY_HOST = f"127.0.{BLOCK}.2"
STREAK = 50
# A hold ends after this at the latest (--order-wait): long enough that the test's relay, not the
# bound, decides when the slow gateway gets its snapshot, even on a loaded machine.
ORDER_WAIT = "20s"


class Relay:
    """A TCP relay between one gateway and the control plane, connecting from the gateway's own
    address (a join token admits that one only). hold() keeps what the control plane sends the
    gateway in the relay until release(): a gateway slow to take its snapshot."""

    def __init__(self, procs, source_host, target):
        self.target, self.source_host = target, source_host
        self.lsock = socket.socket()
        self.lsock.bind((RELAY_HOST, 0))
        self.lsock.listen(16)
        self.url = f"http://{RELAY_HOST}:{self.lsock.getsockname()[1]}"
        self.open = threading.Event()
        self.open.set()
        self.closed = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()
        procs.closers.append(self.close)

    def hold(self):
        self.open.clear()

    def release(self):
        self.open.set()

    def close(self):
        self.closed = True
        self.open.set()
        for s in [self.lsock, *self.socks]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self.closed:
            try:
                down, _ = self.lsock.accept()
                up = socket.create_connection(self.target, timeout=5, source_address=(self.source_host, 0))
                up.settimeout(None)
            except OSError:
                if not self.closed:
                    continue
                return
            self.socks += [down, up]
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()

    def _pump(self, src, dst, gated):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if gated:
                    self.open.wait()
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def metric(url, name, token=None):
    """A sample without labels from a Prometheus page; 0 when absent."""
    st, _, body = http_request("GET", url, timeout=2,
                               headers={"Authorization": f"Bearer {token}"} if token else None)
    assert st == 200, (url, st)
    m = re.search(rf"^{name} (\d+)$", body.decode(), re.M)
    return int(m.group(1)) if m else 0


def held(env):
    return metric(env.cp.url + "/metrics", "crossgate_control_snapshots_held", env.cp.token)


def edge_retries(env):
    return metric(env.edge.admin + "/metrics", "crossgate_upstream_rq_retry_total")


def ingress1_listens(env):
    return tcp_connectable(env.ingress_host[1], env.ingress_port)


def ejections(env, endpoint):
    return sum(e["ejections"] for d in env.edge.clusters()["destinations"] for e in d["endpoints"]
               if e["address"] == endpoint)


@pytest.fixture(params=["sqlite", "etcd"])
def env(procs, tmp_path, request):  # noqa: F811
    e = Env(procs, tmp_path, block=BLOCK)
    e.cp.extra_args = ["--order-wait", ORDER_WAIT]
    if request.param == "etcd":
        if ETCD is None:
            pytest.skip("etcd is not installed: scripts/deps.sh installs etcd-server")
        etcd = Etcd(tmp_path, [f"127.0.{BLOCK}.3"])
        procs.closers.append(etcd.stop)
        etcd.start()
        e.cp.extra_args += ["--store", f"etcd://{etcd.endpoints}"]
        e.cp.data.mkdir(parents=True, exist_ok=True)  # the admin credential stays in --data
    return e


def test_reapplied_ingress_gateway_is_not_ejected_at_the_edge(env):
    # ingress-1 reaches the control plane through a relay: it can be made slow to take a snapshot
    env.start_control()
    ing1 = env.new_ingress(1)
    relay = Relay(env.procs, env.ingress_host[1], (env.cp.host, env.cp.port))
    ing1.control_url = relay.url
    env.ingress[1] = ing1
    env.start_all()
    ld = env.load()
    ld.wait_all_on("cluster-1", n=STREAK)

    env.cp.delete(env.f_ingress[1])
    env.wait_edge_endpoints((2,))
    wait_until(lambda: not ingress1_listens(env), what="ingress-1 to close its listener")
    ld.wait_all_on("cluster-2", n=STREAK)
    retries = edge_retries(env)
    log_at = len(env.edge.log())

    # the Gateway comes back while ingress-1 is slow to hear of it
    relay.hold()
    env.cp.apply(env.f_ingress[1])
    ep1 = env.ingress_endpoint(1)
    wait_until(lambda: held(env) >= 1 or ep1 in env.edge.endpoints(),
               what="the edge's snapshot held, or (unordered) the edge sending to ingress-1")
    status, status_text = env.cp.status(), env.cp.cli("status").stdout  # checked below
    ld.wait_requests(100)  # the edge keeps serving meanwhile
    relay.release()

    ld.wait_all_on("cluster-1", n=STREAK)
    assert held(env) == 0
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
    assert edge_retries(env) == retries, "the edge retried requests sent to ingress-1"
    assert "outlier:" not in env.edge.log()[log_at:], env.edge.log()[log_at:]
    assert ejections(env, ep1[1]) == 0
    # while it was held, status said what for
    row = {i["cluster"]: i for i in status["instances"]}
    assert row["cluster-edge"]["held_for"] == row["cluster-1"]["id"], row["cluster-edge"]
    assert "(make-before-break)" in status_text, status_text


def test_deleting_an_ingress_listener_fails_no_post(env):
    # the edge reaches the control plane through a relay: it can be made slow to take a snapshot
    relay = Relay(env.procs, env.edge_host, (env.cp.host, env.cp.port))
    env.start_all(edge_control_url=relay.url)
    ld = env.load(conns=4, rate=100, method="POST", body=b'{"order": 1}\n')
    ld.wait_all_on("cluster-1", n=STREAK)

    # ingress-1's Gateway goes while the edge is slow to hear of it; POSTs keep flowing to
    # ingress-1 on the edge's pooled connections meanwhile
    relay.hold()
    env.cp.delete(env.f_ingress[1])
    wait_until(lambda: held(env) >= 1 or not ingress1_listens(env),
               what="ingress-1's snapshot held, or (unordered) ingress-1 closing its listener")
    ld.wait_requests(100)
    relay.release()

    env.wait_edge_endpoints((2,))
    wait_until(lambda: not ingress1_listens(env), what="ingress-1 to close its listener")
    ld.wait_all_on("cluster-2", n=STREAK)
    assert held(env) == 0
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
    assert len(recs) >= 2 * STREAK
