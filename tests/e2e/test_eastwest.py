"""East-west failover inside the mesh (TSB's "Multi-cluster traffic failover with EastWest
Gateways"): a WorkspaceSetting makes a gateway instance of cluster-2 an east-west gateway, which
takes mTLS only, on its mesh port, and forwards to the exposed services of its own cluster. When
every local endpoint of a serviceDestination on cluster-1's ingress has failed, the ingress sends
the request there over mTLS, with the service's hostname as Host; when the local service is back,
traffic comes back.

Static-mode gateways and apps on 127.0.94.0/24 (the east-west gateway's mesh port is 15443 on its
own address). Certificates are made at run time. Nothing waits with a bare sleep."""

import json

import pytest

from conftest import cluster_doc, gateway_doc, server, service_doc, wait_until, yaml_docs
from dynamic_env import Env, Load, describe_failures, mesh_ca, mesh_identity
from dynamic_env import Gateway as DynGateway
from support import HOSTNAME, free_port, http_request

NET = "127.0.94"
INGRESS, EASTWEST = f"{NET}.1", f"{NET}.2"
APP1, APP2 = f"{NET}.10", f"{NET}.20"
MESH_PORT = 15443
EW_LABELS = {"app": "eastwest-gateway"}
SERVICE = "bookinfo/productpage.bookinfo.svc.cluster.local"


def workspace_setting(exposed=None):
    ew = {"workloadSelector": {"namespace": "eastwest", "labels": EW_LABELS}}
    if exposed is not None:
        ew["exposedServices"] = [{"serviceLabels": labels} for labels in exposed]
    return {"apiVersion": "api.tsb.tetrate.io/v2", "kind": "WorkspaceSetting",
            "metadata": {"organization": "tetrate", "tenant": "tetrate",
                         "workspace": "bookinfo-ws", "name": "bookinfo-ws-setting"},
            "spec": {"defaultEastWestGatewaySettings": [ew]}}


def resources(port, app1, app2, exposed=None):
    c2 = cluster_doc("cluster-2", "region-1")
    c2["spec"]["gateways"] = [{"address": EASTWEST, "namespace": "eastwest", "labels": EW_LABELS}]
    p2 = service_doc("cluster-2", [(APP2, app2.port)])
    p2["metadata"]["labels"] = {"app": "productpage"}
    return yaml_docs(
        cluster_doc("cluster-1", "region-1"), c2,
        service_doc("cluster-1", [(APP1, app1.port)]), p2,
        gateway_doc([server("bookinfo", port, HOSTNAME, [{"route": {"serviceDestination": {"host": SERVICE}}}])]),
        workspace_setting(exposed))


@pytest.fixture
def mesh(tmp_path):
    root = tmp_path / "pki"
    (root / "ca").mkdir(parents=True)
    return {"ca": mesh_ca(root / "ca"),
            "ingress": mesh_identity(root / "ca", "cluster-1", "bookinfo"),
            "eastwest": mesh_identity(root / "ca", "cluster-2", "eastwest")}


def start(procs, mesh, exposed=None):
    app1 = procs.app(APP1, "cluster-1")
    app2 = procs.app(APP2, "cluster-2")
    port = free_port(INGRESS)
    docs = {"bookinfo.yaml": resources(port, app1, app2, exposed)}
    ew = procs.gateway(EASTWEST, docs, cluster="cluster-2", namespace="eastwest",
                       labels=tuple(EW_LABELS.items()), name="eastwest-2", wait_ports=(MESH_PORT,),
                       extra_args=["--identity", mesh["eastwest"], "--mesh-ca", mesh["ca"]])
    ingress = procs.gateway(INGRESS, docs, cluster="cluster-1", name="ingress-1",
                            wait_ports=(port,),
                            extra_args=["--identity", mesh["ingress"], "--mesh-ca", mesh["ca"],
                                        "--mtls-port", str(free_port(INGRESS))])
    ingress.port = port
    return app1, app2, ingress, ew


def get(gw):
    status, _, body = http_request("GET", f"http://{gw.address}:{gw.port}/productpage",
                                   headers={"Host": HOSTNAME})
    return status, body.decode()


def service_dest(gw):
    dests = gw.config_dump()["snapshot"]["destinations"]
    return next(d for d in dests if d["name"].startswith("service:"))


def test_eastwest_gateway_serves_exposed_services_on_the_mesh_port_only(procs, mesh):
    _, _, _, ew = start(procs, mesh)
    snap = ew.config_dump()["snapshot"]
    [srv] = snap["servers"]
    assert (srv["port"], srv["hostname"], srv.get("east_west")) == (
        MESH_PORT, "productpage.bookinfo.svc.cluster.local", True)
    [dest] = snap["destinations"]
    assert [(e["address"], e["cluster"]) for e in dest["endpoints"]] == [(APP2, "cluster-2")]


def test_local_service_down_fails_over_through_remote_eastwest_gateway_and_comes_back(procs, mesh):
    app1, _, ingress, ew = start(procs, mesh)
    dest = service_dest(ingress)
    # the local endpoint at priority 0; cluster-2's east-west gateway below it, over mTLS on its
    # mesh port, with the service's hostname as Host
    assert [(e["address"], e["port"], e["priority"], e.get("identity"), e.get("host"))
            for e in dest["endpoints"]] == [
        (APP1, app1.port, 0, None, None),
        (EASTWEST, MESH_PORT, 1, "spiffe://crossgate/ns/eastwest/cluster/cluster-2",
         "productpage.bookinfo.svc.cluster.local")]
    assert get(ingress) == (200, "productpage from cluster-1\n")

    app1.kill9()  # the guide's "scale to 0": every local endpoint fails
    # every request is answered: the failed tries go on to the east-west gateway
    for _ in range(20):
        assert get(ingress) == (200, "productpage from cluster-2\n")
    # it left cluster-1's ingress for the east-west gateway's mesh port, which routed it on the
    # service's hostname to cluster-2's productpage
    ingress.wait_access(lambda e: e["status"] == 200 and e["upstream"] == f"{EASTWEST}:{MESH_PORT}",
                        what="an ingress request sent to the east-west gateway")
    ew.wait_access(lambda e: e["status"] == 200
                   and e["authority"] == "productpage.bookinfo.svc.cluster.local"
                   and e["upstream"].startswith(f"{APP2}:"),
                   what="the east-west gateway forwarding to cluster-2's productpage")

    app1.restart()  # the local service is back: once its ejection ends, traffic returns
    wait_until(lambda: get(ingress) == (200, "productpage from cluster-1\n"),
               what="traffic back on cluster-1's own productpage")


def test_service_not_exposed_gets_no_eastwest_failover(procs, mesh):
    _, _, ingress, ew = start(procs, mesh, exposed=[{"app": "reviews"}])
    assert ew.config_dump()["snapshot"]["servers"] == []
    assert [e["address"] for e in service_dest(ingress)["endpoints"]] == [APP1]


# ---------------------------------------------------------------- dynamic mode, behind an edge


def test_dynamic_scale_upstream_edge_sees_no_errors_and_status_explains_failover(procs, tmp_path):
    """The guide's "Scale Upstream Services" with east-west on, all gateways registered with the
    control plane: cluster-1's productpage goes away, cluster-1's ingress serves through
    cluster-2's east-west gateway, and the edge sees no error and ejects nothing."""
    env = Env(procs, tmp_path, mtls=True).start_all()
    env.cp.apply(env._write("eastwest.yaml", yaml_docs(workspace_setting())))
    ew_host = f"{NET}.50"
    ew = DynGateway(procs, "eastwest-2", "cluster-2", "eastwest", "app=eastwest-gateway", ew_host,
                    env.cp.url, token_file=env.cp.join_token("cluster-2"),
                    mesh=(mesh_identity(env.ca_dir, "cluster-2", "eastwest"), env.ca_cert, MESH_PORT))
    ew.start()
    ingress = env.ingress[1]

    def failover_endpoints():
        snap = ingress.config_dump()["snapshot"]
        return [(e["address"], e["port"], e["priority"]) for d in snap["destinations"]
                if d["mode"] == "service" for e in d["endpoints"] if e.get("host")]

    wait_until(lambda: failover_endpoints() == [(ew_host, MESH_PORT, 1)],
               what="ingress-1's failover endpoint: cluster-2's east-west gateway")
    out = env.cp.cli("status").stdout
    assert "east-west gateway, other region region-2, Host productpage.bookinfo.svc.cluster.local" in out, out
    assert "when every local endpoint has failed" in out, out

    ld = env.load()
    ld.wait_all_on("cluster-1", n=50)
    start = len(ld.snapshot())
    env.apps[1].kill9()  # productpage-v1 in cluster-1 scaled to 0
    # cluster-1's own ingress answers, with cluster-2's productpage
    ld.wait_all_on("cluster-2", n=100)
    env.start_app(1)  # scaled back to 1: once its ejection ends, cluster-1 serves again
    ld.wait_all_on("cluster-1", n=50)
    ld.stop()
    records = ld.snapshot()[start:]
    assert not Load.failures(records), describe_failures(records)
    # the edge never saw cluster-1 fail: nothing of it was ejected
    dests = env.edge.clusters()["destinations"]
    ejections = sum(e["ejections"] for d in dests for e in d["endpoints"] if e["cluster"] == "cluster-1")
    assert ejections == 0, dests
