"""The control plane's store across restarts, as real processes on 127.0.89.0/24 and
127.0.90.0/24: snapshot versions never go backwards (a gateway that holds version N takes the
next config of a restarted control plane), an apply carrying metadata.resourceVersion is
compare-and-swap (409 on a stale one), instance leases outlive a restart, and gateways given
two control planes (`--control URL1,URL2`) move to the second when the first dies.

Layout and helpers: dynamic_env.py (Env with this module's blocks).
"""

import json
import os
import sqlite3
import subprocess
import time

import pytest

from pathlib import Path

from support import BIN, http_request, tcp_connectable
from dynamic_env import (ControlPlane, Env, Gateway, Load, describe_failures, procs,  # noqa: F401
                         wait_until)

BLOCK = 96
BULK_BLOCK = 96

# Enough snapshot versions, quickly, to run ahead of the wall clock in ms: BULK instances whose
# Gateway changes ROUNDS times.
BULK = 200
ROUNDS = 40


@pytest.fixture
def env(procs, tmp_path):  # noqa: F811
    return Env(procs, tmp_path, block=BLOCK)


def api(env, method, path, body=None):
    st, _, b = http_request(method, env.cp.url + path, body=body,
                            headers={"Authorization": f"Bearer {env.cp.token}"})
    return st, b


def bulk_gateway(k):
    return f"""apiVersion: crossgate/v1
kind: Gateway
metadata: {{name: bulk}}
spec:
  workloadSelector: {{namespace: bulk, labels: {{app: bulk}}}}
  http:
  - name: bulk
    port: 8080
    hostname: bulk-{k}.example
    routing:
      rules:
      - directResponse: {{status: 200}}
"""


def versions_issued(env):
    return [i["snapshot_version"] for i in env.cp.status()["instances"]]


def test_restarted_control_plane_continues_above_every_version_handed_out(env):
    env.start_all()
    # many instances whose snapshot changes on every apply: versions run ahead of the clock
    for i in range(BULK):
        reg = json.dumps({"cluster": "cluster-1", "namespace": "bulk", "labels": {"app": "bulk"},
                          "address": f"127.0.{BULK_BLOCK}.{i + 1}"})
        assert api(env, "POST", "/v1/instances", reg)[0] == 200
    for k in range(ROUNDS):
        st, b = api(env, "POST", "/v1/apply", bulk_gateway(k))
        assert st == 200, b
    # and last the edge's: it holds the highest version handed out
    env.cp.apply(env.f_edge["named-1-2"])
    top = max(versions_issued(env))
    wait_until(lambda: env.edge.version() == top, what="the edge to take the last version")
    ahead_ms = top - int(time.time() * 1000)

    env.cp.kill9()
    env.cp.start()
    env.cp.apply(env.f_edge["named-2"])
    # the edge, still holding version top, takes the restarted control plane's config
    env.wait_edge_endpoints((2,), timeout=10,
                            what="the edge to take the restarted control plane's named [cluster-2]")
    v_new = env.edge.version()
    print(f"\nversions ran {ahead_ms} ms ahead of the wall clock; the edge held {top} before the "
          f"restart and {v_new} after it")
    assert v_new > top
    assert all(v > top for v in versions_issued(env) if v), versions_issued(env)


def cluster_at(region, resource_version):
    return f"""apiVersion: crossgate/v1
kind: Cluster
metadata:
  name: cluster-1
  resourceVersion: "{resource_version}"
spec:
  locality:
    region: {region}
"""


def stored_region(env):
    st, b = api(env, "GET", "/v1/resources/cluster/cluster-1")
    assert st == 200, b
    item = json.loads(b)
    return item["resource"]["spec"]["locality"]["region"], item["version"]


def test_apply_with_resource_version_is_compare_and_swap_and_a_stale_one_answers_409(env, tmp_path):
    env.start_control()
    env.cp.apply(env.f_clusters)
    region, v = stored_region(env)
    f = tmp_path / "cluster-1.yaml"
    # at the stored version: applied
    f.write_text(cluster_at("region-3", v))
    r = env.cp.cli("apply", "-f", f)
    assert "cluster/cluster-1 configured" in r.stdout.lower(), r.stdout
    assert stored_region(env) == ("region-3", v + 1)
    # the same version again is stale now: refused, the CLI says why and exits non-zero
    f.write_text(cluster_at("region-4", v))
    r = env.cp.cli("apply", "-f", f, check=False)
    assert r.returncode != 0
    assert (f"{f}:5:20: Cluster/cluster-1: conflict: resourceVersion is {v}, but the stored resource "
            f"is at version {v + 1}") in r.stderr, r.stderr
    st, b = api(env, "POST", "/v1/apply", cluster_at("region-4", v))
    assert st == 409 and b"conflict" in b, (st, b)
    assert stored_region(env) == ("region-3", v + 1)
    # "0" creates only
    st, b = api(env, "POST", "/v1/apply", cluster_at("region-4", 0))
    assert st == 409 and b"but it exists" in b, (st, b)
    metrics = api(env, "GET", "/metrics")[1].decode()
    assert 'crossgate_control_apply_requests_total{result="conflict"} 3' in metrics, metrics
    # and a resourceVersion is never stored: get gives back the document without it
    st, b = api(env, "GET", "/v1/resources/cluster/cluster-1")
    assert b"resourceVersion" not in b


def test_restarted_control_plane_keeps_every_instance_and_expires_only_the_gone(env):
    env.start_all()
    ld = env.load()
    ld.wait_all_on("cluster-1", n=100)
    before = {i["id"]: i["address"] for i in env.cp.status()["instances"]}
    assert len(before) == 3
    ing2 = env.ingress[2]
    env.cp.kill9()
    ing2.kill9()  # gone while the control plane is down: nobody heartbeats its lease
    env.cp.start()
    # the instances of the run before, by id, as soon as it answers: none registered again
    assert {i["id"] for i in env.cp.status()["instances"]} == set(before)
    gone = next(i for i, a in before.items() if a == ing2.address)
    wait_until(lambda: {i["id"] for i in env.cp.status()["instances"]} == set(before) - {gone},
               timeout=10, what="ingress-2's lease to expire, and only that one")
    env.wait_edge_endpoints((1,), what="the edge to drop the expired ingress-2")
    # the gateways that stayed kept their instance: no registration since the first
    for g in (env.edge, env.ingress[1]):
        assert "registering again" not in g.log(), g.log()[-2000:]
        assert g.log().count("registered with control plane") == 1
    # and follow the restarted control plane's changes
    t_apply = time.monotonic()
    env.cp.apply(env.edge_file("direct", ("direct", 203, "from the restarted control plane")))
    wait_until(lambda: ld.snapshot()[-1][2] == 203, what="the edge to answer from the new config")
    print(f"\nrestart -> the edge answered from the new config "
          f"{(time.monotonic() - t_apply) * 1000:.0f} ms after the apply")
    recs = ld.stop().snapshot()
    bad = [r for r in recs if r[2] not in (200, 203)]
    assert not bad, describe_failures(bad)


class SecondControlPlane(ControlPlane):
    """Another `crossgate control` with its own store, taking the first one's admin credential."""

    def __init__(self, procs, host, data, token_file):  # noqa: F811
        super().__init__(procs, host, data)
        self.token_file = token_file

    def start(self):
        self.p = self.procs.spawn([BIN, "control", "--listen", f"{self.host}:{self.port}", "--data", self.data,
                                   "--token-file", self.token_file], "control-2")
        wait_until(lambda: self.p.check_alive() and http_request("GET", self.url + "/ready", timeout=1)[0] == 200,
                   what="second control plane /ready")
        self.token = Path(self.token_file).read_text().strip()
        return self


def test_gateways_given_two_control_planes_move_to_the_second_and_take_its_config(env):
    # two control planes, each its own store (SQLite is one machine's): the same resources on both
    cp1 = env.start_control()
    token = cp1.data / "admin.token"
    cp2 = SecondControlPlane(env.procs, f"127.0.{BLOCK}.2", env.tmp / "data-2", token)
    files = [env.f_clusters, env.f_services, env.f_ingress[1], env.f_ingress[2], env.f_edge["auto"]]
    cp1.apply(*files)
    urls = f"{cp1.url},{cp2.url}"
    for k in (1, 2):
        env.start_app(k)
        gw = Gateway(env.procs, f"ingress-{k}", f"cluster-{k}", "bookinfo", f"app=ingressgw-{k}",
                     env.ingress_host[k], urls, token_file=token)
        env.ingress[k] = gw.start()
        wait_until(lambda: tcp_connectable(gw.address, env.ingress_port), what=f"ingress-{k} listening")
    env.edge = Gateway(env.procs, "edge", "cluster-edge", "edge", "app=edgegw", env.edge_host, urls,
                       token_file=token).start()
    env.wait_edge_endpoints((1, 2))
    cp2.start()
    cp2.apply(*files)
    ld = env.load()
    ld.wait_all_on("cluster-1", n=100)

    cp1.kill9()
    wait_until(lambda: len(cp2.status()["instances"]) == 3, timeout=10,
               what="the three gateways to register with the second control plane")
    t_moved = time.monotonic()
    for g in (env.edge, env.ingress[1], env.ingress[2]):
        assert f"trying {cp2.url}" in g.log(), g.log()[-2000:]
    # the second control plane's own change reaches the edge
    cp2.apply(env.f_edge["named-2"])
    ld.wait_all_on("cluster-2", n=100, timeout=10)
    print(f"\nfirst control plane killed -> every gateway on the second, named [cluster-2] from it "
          f"{(time.monotonic() - t_moved) * 1000:.0f} ms after all had registered")
    recs = ld.stop().snapshot()
    assert all(g.p.alive() for g in (env.edge, env.ingress[1], env.ingress[2])), "a gateway died"
    assert not Load.failures(recs), describe_failures(recs)
    # the CLI takes both too: the first refuses the connection, the second answers
    cli_env = dict(os.environ, CROSSGATE_CONTROL=urls, CROSSGATE_TOKEN=cp2.token)
    r = subprocess.run([BIN, "apply", "-f", env.f_edge["auto"]], env=cli_env, capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"cannot reach the control plane at {cp1.url}" in r.stderr
    assert "gateway/bookinfo-edge configured" in r.stdout.lower(), r.stdout


def test_store_without_leases_falls_back_to_registering_again_without_failed_requests(env):
    # a data directory written by a crossgate that did not store leases: after the restart the
    # gateways register again, and the edge keeps its snapshot until the restarted control
    # plane's has both ingresses (the resync window, resync.h)
    env.start_all()
    ld = env.load()
    ld.wait_all_on("cluster-1", n=100)
    before = {i["id"] for i in env.cp.status()["instances"]}
    v_edge = env.edge.version()
    env.cp.kill9()
    db = sqlite3.connect(env.cp.data / "crossgate.db")
    db.execute("DROP TABLE leases")
    db.commit()
    db.close()
    env.cp.start()
    wait_until(lambda: len(env.cp.status()["instances"]) == 3, timeout=10,
               what="the three gateways to register again")
    assert not before & {i["id"] for i in env.cp.status()["instances"]}
    both = {env.ingress_endpoint(1), env.ingress_endpoint(2)}
    wait_until(lambda: env.edge.version() > v_edge and env.edge.endpoints() == both,
               what="the edge to take a snapshot of the restarted control plane with both ingresses")
    ld.wait_requests(200, after=ld.count())
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
