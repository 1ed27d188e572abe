"""mTLS between gateways (the TSB 15443 pattern): a gateway with a mesh identity listens on its
mTLS port for other gateways and requires a certificate from the mesh CA; an edge with one sends
to ingress gateways with one over mTLS and checks that the peer's URI SAN names the cluster it
meant to reach. A peer that cannot prove it (expired, another cluster's identity) fails the hop,
and the edge fails over. Identities reload without a restart; bad ones are refused.

Certificates are made at run time (`crossgate ca`, the openssl CLI for an expired one); no key
is committed. Static-mode gateways: 127.0.73.0/24; the dynamic topology: dynamic_env.py's blocks.
Nothing waits with a bare sleep.
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import BIN, Metrics, direct, gateway_doc, server, wait_until, yaml_docs
from test_tls import read_all, tls_files, tls_server
from dynamic_env import Env, Load, describe_failures, mesh_ca, mesh_identity
from support import HOSTNAME, expired_cert, free_port, free_port_on, http_request

NET = "127.0.73"


def uri_of(cluster, namespace="bookinfo"):
    return f"spiffe://crossgate/ns/{namespace}/cluster/{cluster}"


def expired_identity(ca_dir, cluster, namespace, out):
    """An identity signed by the mesh CA in ca_dir, valid only in January 2020."""
    expired_cert(out.parent / f"{out.name}-ca-work", out.with_suffix(".key"), out.with_suffix(".crt"),
                 cluster, ca_dir=ca_dir,
                 ext=f"subjectAltName = URI:{uri_of(cluster, namespace)}\nbasicConstraints = CA:FALSE\n"
                     "keyUsage = digitalSignature\nextendedKeyUsage = serverAuth, clientAuth\n")
    return out


def mesh_client_ctx(ca, identity=None):
    """A client like an edge: trusts the mesh CA, presents identity (a PREFIX) if given. The mesh
    is addressed by URI SAN, not host name."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if identity:
        ctx.load_cert_chain(f"{identity}.crt", f"{identity}.key")
    return ctx


def get_close(s, hostname=HOSTNAME, path="/"):
    """Sends a GET with Connection: close on socket s and reads until the peer closes."""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
    return read_all(s)


def mesh_get(addr, port, ctx, hostname=HOSTNAME, path="/"):
    """One request over a fresh mTLS connection: (status, body, the peer's certificate DER)."""
    raw = socket.create_connection((addr, port), timeout=5)
    s = ctx.wrap_socket(raw)
    try:
        peer = s.getpeercert(binary_form=True)
        head, _, body = get_close(s, hostname, path).partition(b"\r\n\r\n")
        return int(head.split()[1]), body, peer
    finally:
        s.close()


# ---------------------------------------------------------------- static mode: the mesh port

@pytest.fixture
def mesh(tmp_path):
    """A mesh CA, another CA, and identities."""
    root = tmp_path / "pki"
    root.mkdir()
    (root / "ca").mkdir()
    (root / "other").mkdir()
    out = {"ca": mesh_ca(root / "ca")}
    out["other_ca"] = mesh_ca(root / "other")
    out["ca_dir"] = root / "ca"
    out["ingress"] = mesh_identity(root / "ca", "cluster-1", "bookinfo")
    out["edge"] = mesh_identity(root / "ca", "cluster-edge", "edge")
    out["foreign"] = mesh_identity(root / "other", "cluster-edge", "edge", out=root / "foreign")
    out["root"] = root
    return out


def direct_gateway_doc(port):
    return yaml_docs(gateway_doc([server("web", port, HOSTNAME, [direct(200, "from cluster-1\n")])]))


def mesh_gateway(procs, mesh, addr, identity=None, **kw):
    port = free_port(addr)
    mport = free_port(addr)
    gw = procs.gateway(addr, {"gw.yaml": direct_gateway_doc(port)}, wait_ports=(port, mport),
                       extra_args=["--identity", identity or mesh["ingress"], "--mesh-ca", mesh["ca"],
                                   "--mtls-port", str(mport)], **kw)
    gw.port, gw.mport = port, mport
    return gw


def test_mesh_port_serves_the_gateway_hosts_to_a_peer_with_a_mesh_certificate(procs, mesh):
    gw = mesh_gateway(procs, mesh, f"{NET}.1")
    status, body, peer = mesh_get(gw.address, gw.mport, mesh_client_ctx(mesh["ca"], mesh["edge"]))
    assert (status, body) == (200, b"from cluster-1\n")
    # the certificate it presents is its identity, naming its cluster and namespace
    pem = ssl.DER_cert_to_PEM_cert(peer)
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=pem,
                          capture_output=True, text=True, check=True).stdout
    assert f"URI:{uri_of('cluster-1')}" in text
    # its own port stays plain text
    c = http.client.HTTPConnection(gw.address, gw.port, timeout=5)
    c.request("GET", "/", headers={"Host": HOSTNAME})
    assert c.getresponse().status == 200
    c.close()
    # a host it does not serve: closed unanswered (as a port without that Gateway refuses the
    # connection), so an edge tries another cluster instead of passing a 404 on
    s = mesh_client_ctx(mesh["ca"], mesh["edge"]).wrap_socket(
        socket.create_connection((gw.address, gw.mport), timeout=5))
    assert get_close(s, hostname="other.example") == b""
    s.close()
    gw.wait_access(lambda e: "NR" in e["flag_set"] and e["status"] == 0,
                   what="the unanswered request logged with NR")
    m = gw.metrics()
    assert m.get("crossgate_downstream_tls_handshake_total") >= 2


def test_mesh_port_does_not_serve_a_host_that_requires_client_certificates(procs, mesh, tmp_path):
    """A MUTUAL server admits only its own CA's clients (with its SANs): a mesh peer proves
    neither, so the mesh port leaves that host out, while it serves the others."""
    addr = f"{NET}.5"
    port, tls_port, mport = free_port(addr), free_port(addr), free_port(addr)
    web = tmp_path / "web"
    web.mkdir()
    web_ca = mesh_ca(web)
    secret = mesh_identity(web, "web", "web", out=tmp_path / "secret")
    doc = yaml_docs(gateway_doc([
        server("open", port, HOSTNAME, [direct(200, "open\n")]),
        tls_server("secret", tls_port, "secret.example", [direct(200, "SECRET\n")],
                   tls_files((f"{secret}.crt", f"{secret}.key"), "MUTUAL", ca=web_ca,
                             sans=["admin-client.example"])),
    ]))
    gw = procs.gateway(addr, {"gw.yaml": doc}, wait_ports=(port, tls_port, mport),
                       extra_args=["--identity", mesh["ingress"], "--mesh-ca", mesh["ca"],
                                   "--mtls-port", str(mport)])
    ctx = mesh_client_ctx(mesh["ca"], mesh["edge"])
    assert mesh_get(addr, mport, ctx)[:2] == (200, b"open\n")
    s = ctx.wrap_socket(socket.create_connection((addr, mport), timeout=5))
    assert get_close(s, hostname="secret.example") == b""
    s.close()
    gw.wait_access(lambda e: "NR" in e["flag_set"] and e["status"] == 0,
                   what="the refused host logged with NR")


def test_mesh_port_refuses_plaintext_a_client_without_a_certificate_and_another_ca(procs, mesh):
    gw = mesh_gateway(procs, mesh, f"{NET}.2")
    # plain text HTTP: nginx's short cleartext 400, then the connection closes
    s = socket.create_connection((gw.address, gw.mport), timeout=5)
    data = get_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 400 "), data
    assert b"from cluster-1" not in data
    # TLS without a client certificate, or with one from another CA: no request gets through
    for ctx in (mesh_client_ctx(mesh["ca"]), mesh_client_ctx(mesh["ca"], mesh["foreign"])):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            mesh_get(gw.address, gw.mport, ctx)
    m = wait_until(lambda: (lambda m: m if m.sum("crossgate_downstream_tls_handshake_failed_total") >= 3
                            else None)(gw.metrics()), what="three handshake failures counted")
    assert m.get("crossgate_downstream_tls_handshake_failed_total", reason="http_request") == 1
    assert m.get("crossgate_downstream_tls_handshake_failed_total", reason="no_client_certificate") == 1
    assert m.get("crossgate_downstream_tls_handshake_total") == 0


def test_renewed_identity_is_served_to_new_connections_and_a_bad_one_is_refused(procs, mesh, tmp_path):
    gw = mesh_gateway(procs, mesh, f"{NET}.3")
    ctx = mesh_client_ctx(mesh["ca"], mesh["edge"])
    _, _, before = mesh_get(gw.address, gw.mport, ctx)
    # a keep-alive connection opened under the old identity
    old = ctx.wrap_socket(socket.create_connection((gw.address, gw.mport), timeout=5))
    assert old.getpeercert(binary_form=True) == before
    # renew: a new key and certificate, swapped in by rename
    fresh = mesh_identity(mesh["ca_dir"], "cluster-1", "bookinfo", out=tmp_path / "renewed")
    for ext in (".key", ".crt"):
        os.replace(f"{fresh}{ext}", f"{mesh['ingress']}{ext}")
    wait_until(lambda: mesh_get(gw.address, gw.mport, ctx)[2] != before,
               what="new connections to get the renewed identity")
    gw.wait_log(r"mesh identity reloaded \(files changed\)")
    renewed = mesh_get(gw.address, gw.mport, ctx)[2]
    # the old connection continues
    assert get_close(old).startswith(b"HTTP/1.1 200 ")
    old.close()
    # a bad identity (another cluster's) is refused with one line, and the renewed one stays
    wrong = mesh_identity(mesh["ca_dir"], "cluster-2", "bookinfo", out=tmp_path / "wrong")
    for ext in (".key", ".crt"):
        os.replace(f"{wrong}{ext}", f"{mesh['ingress']}{ext}")
    gw.wait_log(r"mesh identity reload \(files changed\) rejected, keeping the one in force: .*"
                + f"has no URI SAN {uri_of('cluster-1')}")
    assert mesh_get(gw.address, gw.mport, ctx)[2] == renewed
    # garbage, then SIGHUP: refused again, still serving
    with open(f"{mesh['ingress']}.key", "w") as f:
        f.write("not a key\n")
    gw.proc.signal(signal.SIGHUP)
    gw.wait_log(r"mesh identity reload \(SIGHUP\) rejected")
    assert mesh_get(gw.address, gw.mport, ctx)[2] == renewed
    assert "PRIVATE KEY" not in gw.log()


def run_gateway(tmp, *args, mtls_port=None):
    """A static gateway that is expected not to start: its CompletedProcess."""
    port = free_port(f"{NET}.4")
    f = tmp / "gw.yaml"
    f.write_text(direct_gateway_doc(port))
    mport = ["--mtls-port", str(port if mtls_port == "gateway's" else free_port(f"{NET}.4"))]
    return subprocess.run([BIN, "gateway", "--cluster", "cluster-1", "--namespace", "bookinfo",
                           "--label", "app=ingressgw-1", "--address", f"{NET}.4", "--admin", "off",
                           "-f", f, *map(str, args), *mport],
                          capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("case", ["another_cluster", "another_ca", "no_ca_flag", "missing_file",
                                  "port_taken_by_a_gateway"])
def test_a_bad_identity_stops_the_gateway_at_start_with_one_line(mesh, tmp_path, case):
    ident, ca = mesh["ingress"], mesh["ca"]
    if case == "another_cluster":
        ident = mesh_identity(mesh["ca_dir"], "cluster-2", "bookinfo", out=tmp_path / "c2")
        want = f"has no URI SAN {uri_of('cluster-1')}"
    elif case == "another_ca":
        ca = mesh["other_ca"]
        want = "not issued by the mesh CA"
    elif case == "missing_file":
        ident = tmp_path / "nowhere"
        want = f"mesh certificate {tmp_path}/nowhere.crt: cannot read: No such file or directory"
    elif case == "no_ca_flag":
        ca = None
        want = "--identity and --mesh-ca go together"
    else:
        want = "is this gateway's mesh mTLS port (--mtls-port); no Gateway can serve on it"
    args = ["--identity", ident] + (["--mesh-ca", ca] if ca else [])
    r = run_gateway(tmp_path, *args, mtls_port="gateway's" if case == "port_taken_by_a_gateway" else None)
    assert r.returncode != 0
    assert want in r.stderr, r.stderr
    assert "PRIVATE KEY" not in r.stderr


# ---------------------------------------------------------------- the dynamic topology

@pytest.fixture
def menv(procs, tmp_path):
    return Env(procs, tmp_path, mtls=True)


def test_edge_to_ingress_hop_is_mtls_and_status_shows_it(menv):
    env = menv
    env.start_all()
    ld = env.load(conns=2, rate=100)
    ld.wait_all_on("cluster-1", n=50)
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
    # the ingress took them over TLS on its mTLS port (requests and health probes)
    m = Metrics(http_request("GET", env.ingress[1].admin + "/metrics")[2].decode())
    assert m.get("crossgate_downstream_tls_handshake_total") >= 1
    # the edge's health probes (a connection each) resume the session they earned: after the
    # first full handshake, no more full ones for each probe
    wait_until(lambda: Metrics(http_request("GET", env.ingress[1].admin + "/metrics")[2].decode())
               .get("crossgate_downstream_tls_resumed_total") >= 2,
               what="probes resuming their mTLS sessions")
    # the snapshot names the identity the edge expects of each ingress
    eps = [e for d in env.edge.config_dump()["snapshot"]["destinations"] for e in d["endpoints"]]
    ids = {(e["cluster"], e["port"], e.get("identity")) for e in eps}
    assert ("cluster-1", env.mtls_port, uri_of("cluster-1")) in ids
    assert ("cluster-2", env.mtls_port, uri_of("cluster-2")) in ids
    # both ingresses are healthy: the edge's probes cross the same mTLS hop
    dests = env.edge.clusters()["destinations"]
    health = {e["address"]: e["health"] for d in dests for e in d["endpoints"]}
    for k in (1, 2):
        assert health[f"{env.ingress_host[k]}:{env.mtls_port}"] == "healthy"
    # and /clusters names the identity each hop expects
    ident = {e["address"]: e["identity"] for d in dests for e in d["endpoints"]}
    for k in (1, 2):
        assert ident[f"{env.ingress_host[k]}:{env.mtls_port}"] == uri_of(f"cluster-{k}")
    # crossgate status: the instances' mTLS port, and "(mTLS)" on each such hop
    out = env.cp.cli("status").stdout
    assert "MTLS" in out
    assert f"{env.ingress_host[1]}:{env.mtls_port} (mTLS)" in out, out
    st = env.cp.status()
    assert {i["mtls_port"] for i in st["instances"]} == {env.mtls_port}


def test_expired_ingress_identity_fails_the_hop_and_the_edge_fails_over(menv):
    env = menv
    # ingress-1 starts with an identity that expired in 2020: served, with a warning
    prefix = env.tmp / "ca" / "bookinfo-cluster-1-expired"
    expired_identity(env.ca_dir, "cluster-1", "bookinfo", prefix)
    env.start_control()
    env.cp.apply(env.f_clusters, env.f_services, env.f_ingress[1], env.f_ingress[2], env.f_edge["auto"])
    for k in (1, 2):
        env.start_app(k)
    ing1 = env.new_ingress(1)
    ing1.mesh = (prefix, env.ca_cert, env.mtls_port)
    env.ingress[1] = ing1
    env.start_ingress(1)
    env.start_ingress(2)
    env.start_edge()
    env.wait_edge_endpoints((1, 2))
    assert "certificate expired on 2020-02-01T00:00:00Z" in ing1.log()
    # every request is answered, by cluster-2: the hop to cluster-1 fails its handshake
    ld = env.load(conns=2, rate=100)
    ld.wait_requests(150)
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
    assert Load.by_cluster(recs) == {"cluster-2": len(recs)}, Load.by_cluster(recs)
    # the health probes fail the same way: cluster-1's ingress is unhealthy, never trusted
    ep1 = f"{env.ingress_host[1]}:{env.mtls_port}"

    def state():
        for d in env.edge.clusters()["destinations"]:
            for e in d["endpoints"]:
                if e["address"] == ep1:
                    return e
        return None
    wait_until(lambda: state()["health"] == "unhealthy", what="cluster-1's ingress unhealthy")
    e = state()
    assert e["connect_failures"] >= 1 and e["errors"] == e["requests"], e


class FakePeer:
    """A TLS server presenting another cluster's identity (from the mesh CA), registered with the
    control plane as an instance of cluster-1: what an edge meets if someone else answers at a
    registered address. Counts handshakes and the request bytes that reach it."""

    def __init__(self, env, addr, port, identity):
        self.env, self.addr, self.port = env, addr, port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(f"{identity}.crt", f"{identity}.key")
        self.ctx.load_verify_locations(str(env.ca_cert))
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.create_server((addr, port))
        self.sock.settimeout(0.2)
        self.connections = 0
        self.request_bytes = 0
        self.stop = threading.Event()
        self.id = None
        self.threads = [threading.Thread(target=self._serve, daemon=True),
                        threading.Thread(target=self._heartbeat, daemon=True)]

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            c.settimeout(2)
            try:
                s = self.ctx.wrap_socket(c, server_side=True)
                self.request_bytes += len(s.recv(65536))
                s.close()
            except OSError:
                c.close()

    def _call(self, method, path, body=None):
        c = http.client.HTTPConnection(self.env.cp_host, self.env.cp.port, timeout=3,
                                       source_address=(self.addr, 0))
        tok = self.env.cp.join_token("cluster-1").read_text().strip()
        c.request(method, path, body=body, headers={"Authorization": f"Bearer {tok}",
                                                    "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def register(self):
        st, data = self._call("POST", "/v1/instances", json.dumps({
            "cluster": "cluster-1", "namespace": "bookinfo", "labels": {"app": "ingressgw-1"},
            "address": self.addr, "mtls_port": self.port}))
        assert st == 200, data
        self.id = json.loads(data)["id"]
        for t in self.threads:
            t.start()
        return self

    def _heartbeat(self):
        while not self.stop.wait(0.5):
            try:
                self._call("PUT", f"/v1/instances/{self.id}/heartbeat")
            except OSError:
                pass

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(5)
        self.sock.close()


def test_a_peer_with_another_clusters_identity_gets_no_request(menv):
    env = menv
    env.start_all()
    fake_addr = f"127.0.{env.block}.12"
    fake_port = free_port_on([fake_addr])
    fake = FakePeer(env, fake_addr, fake_port, env.mesh("cluster-2", "bookinfo")[0])
    env.procs.closers.append(fake.close)
    fake.register()
    want = {env.ingress_endpoint(1), env.ingress_endpoint(2), ("cluster-1", f"{fake_addr}:{fake_port}")}
    wait_until(lambda: env.edge.endpoints() == want, what="the edge to list the fake cluster-1 peer")
    ld = env.load(conns=2, rate=100)
    wait_until(lambda: fake.connections >= 2, what="the edge to try the fake peer")
    ld.wait_requests(100)
    recs = ld.stop().snapshot()
    assert not Load.failures(recs), describe_failures(recs)
    # (while the fake counts as an unhealthy half of cluster-1, part of the load spills over to
    # cluster-2, by the overprovisioning rule) the handshake failed on the edge's side (SAN check): not one request byte reached it
    assert fake.request_bytes == 0


def test_require_mtls_leaves_out_hops_that_are_not_mtls(menv):
    """--require-mtls on the edge: an ingress without a mesh identity (plain text only) is left
    out of the edge's destinations, with a warning; when the mTLS one is gone the edge answers
    503, and never falls back to plain text."""
    env = menv
    env.start_control()
    env.cp.apply(env.f_clusters, env.f_services, env.f_ingress[1], env.f_ingress[2], env.f_edge["auto"])
    for k in (1, 2):
        env.start_app(k)
    plain = env.new_ingress(2)
    plain.mesh = None
    env.ingress[2] = plain
    env.start_ingress(1)
    env.start_ingress(2)
    env.start_edge(extra_args=["--require-mtls"])
    # the snapshot names both; the edge compiled only the mTLS one
    wait_until(lambda: env.edge.endpoints() == {env.ingress_endpoint(1),
                                                ("cluster-2", f"{env.ingress_host[2]}:{env.ingress_port}")},
               what="both ingresses in the edge's snapshot")
    wait_until(lambda: "1 endpoint(s) without an mTLS identity left out (--require-mtls)" in env.edge.log(),
               what="the warning")
    used = {e["address"] for d in env.edge.clusters()["destinations"] for e in d["endpoints"]}
    assert used == {f"{env.ingress_host[1]}:{env.mtls_port}"}, used
    ld = env.load(conns=1, rate=100)
    ld.wait_requests(50)
    recs = ld.stop().snapshot()
    assert Load.by_cluster(recs) == {"cluster-1": len(recs)}
    # the mTLS hop gone: 503, not plain text to cluster-2
    env.ingress[1].kill9()
    wait_until(lambda: request_status(env) == 503, what="503 once the only mTLS hop is gone")
    m = Metrics(http_request("GET", plain.admin + "/metrics")[2].decode())
    assert m.get("crossgate_downstream_rq_total") == 0


def request_status(env):
    st, _, _ = http_request("GET", f"http://{env.edge_host}:{env.edge_port}/productpage",
                            headers={"Host": HOSTNAME}, timeout=5)
    return st


def test_require_mtls_needs_an_identity(tmp_path):
    r = subprocess.run([BIN, "gateway", "--cluster", "c", "--require-mtls", "-f", str(tmp_path)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "--require-mtls needs --identity and --mesh-ca" in r.stderr
