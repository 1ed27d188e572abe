"""Dynamic-mode topology for the test_dynamic_*.py scenarios: a control plane, one edge gateway
and two workload clusters (each an ingress gateway + a productpage app), every gateway in
dynamic mode (`--control URL`), a steady load generator, and helpers to read the edge's view.

Self-contained (stdlib, pytest and support.py). Each test gets its own 127.0.B.0/24 block, B in
41..49 (this module's range); inside a block:

    control plane                 B.1
    edge gateway (cluster-edge)   B.5
    ingress gateway of cluster-k  B.(10k + 1)      (k = 1, 2)
    productpage app of cluster-k  B.(10k + 5)

Ports are free ports picked per test. The resource files are generated in the test's
tmp_path, Clusters WITHOUT static `gateways`: the edge's endpoints are the live registered
ingress instances. Every process runs in its own process group and is killed at teardown, on
failure too. Nothing waits with a bare sleep: waits poll an admin endpoint, a log file or the
load records with a deadline.
"""

import http.client
import itertools
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support import (BIN, DEADLINE, HOSTNAME, Procs, ca_init, ca_issue, free_port, free_port_on,
                     http_request, tcp_connectable, wait_until)

SERVICE_FQDN = "productpage.bookinfo.svc.cluster.local"

# 127.0.41.x .. 127.0.49.x belong to these tests; blocks are handed out round robin so
# consecutive tests never share addresses (a port lingering in TIME_WAIT cannot bite).
_blocks = itertools.cycle(range(41, 50))


def next_block():
    return next(_blocks)


# ---------------------------------------------------------------- HTTP


def get_json(url, timeout=2, token=None):
    st, _, body = http_request("GET", url, timeout=timeout,
                               headers={"Authorization": f"Bearer {token}"} if token else None)
    if st != 200:
        raise AssertionError(f"GET {url}: {st} {body[:200]!r}")
    return json.loads(body)


def request_once(host, port, path="/productpage", hostname=HOSTNAME, timeout=3):
    """One request on a fresh connection: (status, cluster or None, body)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": hostname})
        r = c.getresponse()
        body = r.read()
        return r.status, r.getheader("x-app-cluster"), body
    finally:
        c.close()


# ---------------------------------------------------------------- resources


def cluster_yaml(name, region):
    return f"""apiVersion: crossgate/v1
kind: Cluster
metadata:
  name: {name}
spec:
  locality:
    region: {region}
"""


def service_yaml(cluster, address, port):
    return f"""apiVersion: crossgate/v1
kind: Service
metadata:
  name: productpage
  namespace: bookinfo
  cluster: {cluster}
spec:
  hostname: {SERVICE_FQDN}
  endpoints:
  - address: {address}
    port: {port}
"""


def ingress_yaml(k, port):
    """The guide's bookinfo-ingress-k Gateway on port. Its route names no service port: the apps
    listen on free ports, not the guide's 9080."""
    return f"""apiVersion: gateway.tsb.tetrate.io/v2
kind: Gateway
metadata:
  organization: tse
  tenant: tse
  workspace: bookinfo-ws
  group: bookinfo-gwgroup-{k}
  name: bookinfo-ingress-{k}
spec:
  workloadSelector:
    namespace: bookinfo
    labels:
      app: ingressgw-{k}
  http:
  - name: bookinfo
    port: {port}
    hostname: {HOSTNAME}
    routing:
      rules:
      - route:
          serviceDestination:
            host: bookinfo/{SERVICE_FQDN}
"""


def edge_yaml(port, destination):
    """The edge Gateway (always named bookinfo-edge, so applying a variant replaces it).

    destination: "auto", ("named", [clusters...]) or ("weighted", {cluster: weight}),
    or ("direct", status, body) for a directResponse rule."""
    if destination == "auto":
        rule = "          - route:\n              clusterDestination: {}\n"
    elif destination[0] == "named":
        rule = "          - route:\n              clusterDestination:\n                clusters:\n"
        rule += "".join(f"                - name: {c}\n" for c in destination[1])
    elif destination[0] == "weighted":
        rule = "          - route:\n              clusterDestination:\n                clusters:\n"
        rule += "".join(f"                - name: {c}\n                  weight: {w}\n"
                        for c, w in destination[1].items())
    elif destination[0] == "direct":
        rule = (f"          - directResponse:\n              status: {destination[1]}\n"
                f"              body: {json.dumps(destination[2])}\n")
    else:
        raise ValueError(destination)
    return f"""apiVersion: gateway.tsb.tetrate.io/v2
kind: Gateway
metadata:
  organization: tse
  tenant: tse
  workspace: edge-ws
  group: edge-gwgroup
  name: bookinfo-edge
spec:
  workloadSelector:
    namespace: edge
    labels:
      app: edgegw
  http:
    - name: bookinfo
      port: {port}
      hostname: {HOSTNAME}
      routing:
        rules:
{rule}"""


# ---------------------------------------------------------------- the control plane and gateways


class ControlPlane:
    """`crossgate control` with its data directory; kill and start again at will.

    extra: more flags (`--store etcd://...`, `--insecure`)."""

    def __init__(self, procs, host, data, extra=(), name="control"):
        self.procs = procs
        self.extra = [str(a) for a in extra]
        self.name = name
        self.host = host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.data = Path(data)
        self.p = None
        self.token = None  # the admin credential it made on first start
        self.join_tokens = {}  # cluster -> join token file
        self.extra_args = []  # more `crossgate control` flags

    def start(self):
        self.p = self.procs.spawn([BIN, "control", "--listen", f"{self.host}:{self.port}", "--data", self.data,
                                   *self.extra, *self.extra_args], self.name)
        wait_until(lambda: self.p.check_alive() and http_request("GET", self.url + "/ready", timeout=1)[0] == 200,
                   what=f"{self.name} /ready")
        token = self.data / "admin.token"
        self.token = token.read_text().strip() if token.exists() else None  # none with --insecure
        return self

    def join_token(self, cluster):
        """A file holding a join token for cluster (made once, with the admin credential)."""
        if cluster not in self.join_tokens:
            tok = self.cli("token", "create", "--cluster", cluster).stdout.strip()
            path = self.data.parent / f"join-{cluster}.token"
            path.write_text(tok + "\n")
            self.join_tokens[cluster] = path
        return self.join_tokens[cluster]

    def kill9(self):
        self.p.kill9()

    def cli(self, *args, check=True, control=None):
        """Runs `crossgate ARGS` against this control plane (or the URLs control names, with its
        credential); returns the CompletedProcess."""
        env = dict(os.environ, CROSSGATE_CONTROL=control or self.url, CROSSGATE_TOKEN=self.token or "")
        r = subprocess.run([BIN, *map(str, args)], env=env, capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise AssertionError(f"crossgate {' '.join(map(str, args))}: exit {r.returncode}\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def apply(self, *paths):
        return self.cli("apply", *sum((["-f", p] for p in paths), []))

    def delete(self, *paths):
        return self.cli("delete", *sum((["-f", p] for p in paths), []))

    def status(self):
        return get_json(self.url + "/v1/status", token=self.token)


def snapshot_endpoints(snap):
    """{(cluster, "addr:port")} of every destination of a snapshot (/config_dump's)."""
    return {(e.get("cluster"), f"{e['address']}:{e['port']}")
            for d in snap["destinations"] for e in d["endpoints"]}


class Gateway:
    """One `crossgate gateway` instance in dynamic mode."""

    def __init__(self, procs, name, cluster, namespace, label, address, control_url, cache_dir=None,
                 token_file=None, mesh=None):
        self.procs = procs
        self.mesh = mesh  # (identity PREFIX, mesh CA file, mTLS port) or None: plain text
        self.extra_args = []  # more gateway flags
        self.token_file = token_file  # a join token for its cluster
        self.name = name
        self.cluster = cluster
        self.namespace = namespace
        self.label = label
        self.address = address
        self.control_url = control_url
        self.cache_dir = cache_dir
        self.admin_port = free_port(address)
        self.admin = f"http://{address}:{self.admin_port}"
        self.p = None

    def start(self):
        argv = [BIN, "gateway", "--cluster", self.cluster, "--namespace", self.namespace,
                "--label", self.label, "--address", self.address, "--control", self.control_url,
                "--admin", f"{self.address}:{self.admin_port}", "--workers", "1", "--access-log", "off"]
        if self.cache_dir:
            argv += ["--cache-dir", self.cache_dir]
        if self.token_file:
            argv += ["--token-file", self.token_file]
        if self.mesh:
            argv += ["--identity", self.mesh[0], "--mesh-ca", self.mesh[1], "--mtls-port", str(self.mesh[2])]
        argv += self.extra_args
        self.p = self.procs.spawn(argv, self.name)
        wait_until(lambda: self.p.check_alive() and tcp_connectable(self.address, self.admin_port),
                   what=f"{self.name} admin")
        return self

    def kill9(self):
        self.p.kill9()

    @property
    def pid(self):
        return self.p.pid

    def log(self):
        return self.p.stderr()

    def config_dump(self):
        return get_json(self.admin + "/config_dump")

    def version(self):
        try:
            return self.config_dump()["version"]
        except Exception:
            return None

    def clusters(self):
        return get_json(self.admin + "/clusters")

    def endpoints(self):
        """{(cluster, "addr:port")} of every destination in the snapshot in force."""
        return snapshot_endpoints(self.config_dump()["snapshot"])

    def ready(self):
        try:
            return http_request("GET", self.admin + "/ready", timeout=1)[0] == 200
        except OSError:
            return False


# ---------------------------------------------------------------- load


class Load:
    """Steady, bounded load: `conns` threads, each one keep-alive http.client connection to the
    edge, each at most `rate` requests per second (GET, or `method` with `body`). Every request is recorded as
    (start, end, status, cluster, error) with time.monotonic() stamps; a socket error is
    status 0 (the connection is then reopened)."""

    def __init__(self, host, port, hostname=HOSTNAME, conns=2, rate=250, path="/productpage", method="GET",
                 body=None):
        self.host, self.port, self.hostname, self.path = host, port, hostname, path
        self.method, self.body = method, body
        self.conns, self.interval = conns, 1.0 / rate
        self.records = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def start(self):
        for i in range(self.conns):
            t = threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _run(self):
        conn = None
        nxt = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now < nxt:
                self._stop.wait(nxt - now)  # pacing, not synchronisation
                continue
            nxt = max(nxt + self.interval, now)
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            t0 = time.monotonic()
            try:
                conn.request(self.method, self.path, body=self.body, headers={"Host": self.hostname})
                r = conn.getresponse()
                r.read()
                rec = (t0, time.monotonic(), r.status, r.getheader("x-app-cluster"), None)
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                rec = (t0, time.monotonic(), 0, None, repr(e))
                conn.close()
                conn = None
            with self._lock:
                self.records.append(rec)
        if conn:
            conn.close()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(10)
        return self

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def count(self):
        with self._lock:
            return len(self.records)

    def since(self, t):
        """Records whose request started at or after t."""
        return [r for r in self.snapshot() if r[0] >= t]

    def wait_requests(self, n, after=None, timeout=DEADLINE):
        """Waits until n more requests have finished (after: a count, default now)."""
        base = self.count() if after is None else after
        wait_until(lambda: self.count() >= base + n, timeout=timeout, what=f"{n} more requests")

    def wait_all_on(self, cluster, n=50, timeout=DEADLINE):
        """Waits until the last n responses all came from cluster; returns the time of the first of them."""

        def ok():
            recs = self.snapshot()
            tail = recs[-n:]
            if len(tail) == n and all(r[3] == cluster for r in tail):
                return tail[0][1]
            return None

        return wait_until(ok, timeout=timeout, what=f"the last {n} responses from {cluster}")

    @staticmethod
    def failures(records):
        return [r for r in records if r[2] != 200]

    @staticmethod
    def by_cluster(records):
        out = {}
        for r in records:
            out[r[3]] = out.get(r[3], 0) + 1
        return out


def describe_failures(records, limit=10):
    fails = Load.failures(records)
    return f"{len(fails)} failed of {len(records)}: " + "; ".join(
        f"status={r[2]} cluster={r[3]} err={r[4]}" for r in fails[:limit])


# ---------------------------------------------------------------- the whole topology


def mesh_ca(d):
    """A mesh CA in directory d (`crossgate ca init`): returns its certificate's path."""
    return ca_init(d)


def mesh_identity(d, cluster, namespace, out=None):
    """An identity for a gateway of cluster in namespace, issued by the CA in d: its PREFIX."""
    return ca_issue(d, out or Path(d) / f"{namespace}-{cluster}", cluster, namespace)


class Env:
    """Control plane + edge + two workload clusters, all gateways in dynamic mode.

    mtls: every gateway has a mesh identity (a CA in tmp/ca), so the edge sends to the ingress
    gateways over mTLS on their mTLS port (one free port on every gateway address).
    control_args: more flags of the control plane; join_tokens=False: gateways present none
    (a control plane with --insecure). control_urls: what gateways get as --control (default
    the control plane's URL; "URL1,URL2" for several)."""

    def __init__(self, procs, tmp, mtls=False, block=None, control_args=(), join_tokens=True):
        self.procs = procs
        self.join_tokens = join_tokens
        self.control_urls = None
        self.mtls = mtls
        self.tmp = Path(tmp)
        self.block = block or next_block()  # another module's tests pass their own block
        b = self.block
        self.cp_host = f"127.0.{b}.1"
        self.edge_host = f"127.0.{b}.5"
        self.ingress_host = {1: f"127.0.{b}.11", 2: f"127.0.{b}.21"}
        self.app_host = {1: f"127.0.{b}.15", 2: f"127.0.{b}.25"}
        self.ingress_port = free_port_on([self.ingress_host[1], self.ingress_host[2]])
        self.edge_port = free_port(self.edge_host)
        self.mtls_port = None
        if mtls:
            self.mtls_port = free_port_on([self.edge_host, self.ingress_host[1], self.ingress_host[2]])
            self.ca_dir = self.tmp / "ca"
            self.ca_dir.mkdir()
            self.ca_cert = mesh_ca(self.ca_dir)
        self.app_port = {k: free_port(self.app_host[k]) for k in (1, 2)}
        self.files = self.tmp / "resources"
        self.files.mkdir(exist_ok=True)
        self.cp = ControlPlane(procs, self.cp_host, self.tmp / "data", extra=control_args)
        self.cache = self.tmp / "cache"
        self.apps = {}
        self.ingress = {}
        self.edge = None
        self._write_resources()

    # resource files: one per document, named like the guide's
    def _write(self, name, text):
        path = self.files / name
        path.write_text(text)
        return path

    def _write_resources(self):
        self.f_clusters = self._write("clusters.yaml", "---\n".join([
            cluster_yaml("cluster-1", "region-1"), cluster_yaml("cluster-2", "region-2"),
            cluster_yaml("cluster-edge", "region-1")]))
        self.f_services = self._write("services.yaml", "---\n".join([
            service_yaml(f"cluster-{k}", self.app_host[k], self.app_port[k]) for k in (1, 2)]))
        self.f_ingress = {k: self._write(f"bookinfo-ingress-{k}.yaml", ingress_yaml(k, self.ingress_port))
                          for k in (1, 2)}
        self.f_edge = {
            "auto": self._write("edge-auto.yaml", edge_yaml(self.edge_port, "auto")),
            "named-1-2": self._write("edge-named.yaml", edge_yaml(self.edge_port, ("named", ["cluster-1", "cluster-2"]))),
            "named-2": self._write("edge-named-2.yaml", edge_yaml(self.edge_port, ("named", ["cluster-2"]))),
            "weighted": self._write("edge-weighted.yaml",
                                    edge_yaml(self.edge_port, ("weighted", {"cluster-1": 50, "cluster-2": 50}))),
        }

    def edge_file(self, name, destination):
        return self._write(f"edge-{name}.yaml", edge_yaml(self.edge_port, destination))

    def start_control(self):
        return self.cp.start()

    def start_app(self, k):
        p = self.procs.spawn([BIN, "app", "--listen", f"{self.app_host[k]}:{self.app_port[k]}",
                              "--cluster", f"cluster-{k}"], f"app-{k}")
        wait_until(lambda: p.check_alive() and tcp_connectable(self.app_host[k], self.app_port[k]),
                   what=f"app cluster-{k}")
        self.apps[k] = p
        return p

    def mesh(self, cluster, namespace):
        """The --identity/--mesh-ca/--mtls-port of a gateway, None without mTLS."""
        if not self.mtls:
            return None
        return (mesh_identity(self.ca_dir, cluster, namespace), self.ca_cert, self.mtls_port)

    def control(self):
        """--control of every gateway."""
        return self.control_urls or self.cp.url

    def gateway_token(self, cluster):
        return self.cp.join_token(cluster) if self.join_tokens else None

    def new_ingress(self, k, cache=False):
        return Gateway(self.procs, f"ingress-{k}", f"cluster-{k}", "bookinfo", f"app=ingressgw-{k}",
                       self.ingress_host[k], self.control(), cache_dir=self.cache if cache else None,
                       token_file=self.gateway_token(f"cluster-{k}"),
                       mesh=self.mesh(f"cluster-{k}", "bookinfo"))

    def start_ingress(self, k, cache=False):
        gw = self.ingress.get(k) or self.new_ingress(k, cache)
        self.ingress[k] = gw
        gw.start()
        wait_until(lambda: gw.p.check_alive() and tcp_connectable(gw.address, self.ingress_port),
                   what=f"ingress-{k} listening on its Gateway port")
        return gw

    def start_edge(self, extra_args=(), control_url=None):
        self.edge = Gateway(self.procs, "edge", "cluster-edge", "edge", "app=edgegw", self.edge_host,
                            control_url or self.control(),
                            token_file=self.gateway_token("cluster-edge"), mesh=self.mesh("cluster-edge", "edge"))
        self.edge.extra_args = list(extra_args)
        self.edge.start()
        wait_until(lambda: self.edge.p.check_alive() and tcp_connectable(self.edge_host, self.edge_port),
                   what="edge listening")
        return self.edge

    def ingress_endpoint(self, k):
        """(cluster, "addr:port") of ingress k in the edge's snapshot: its mTLS port with mTLS."""
        return (f"cluster-{k}", f"{self.ingress_host[k]}:{self.mtls_port or self.ingress_port}")

    def wait_edge_endpoints(self, want, timeout=DEADLINE, what=None):
        """Waits until the edge's snapshot in force has exactly the ingress endpoints of clusters want."""
        expect = {self.ingress_endpoint(k) for k in want}
        return wait_until(lambda: self.edge.endpoints() == expect, timeout=timeout,
                          what=what or f"edge endpoints == {sorted(expect)}")

    def start_all(self, edge_variant="auto", edge_first=False, edge_control_url=None):
        """Everything up, the edge routing over both ingress instances.

        edge_first: start the edge before the ingress gateways (so its heartbeats, which keep
        their phase, reach a restarted control plane first). edge_control_url: the edge's
        --control (default the control plane's own URL); an ingress with another one is put in
        self.ingress beforehand (new_ingress, then set its control_url)."""
        if self.cp.p is None:  # else started already (to make a join token, say)
            self.start_control()
        self.cp.apply(self.f_clusters, self.f_services, self.f_ingress[1], self.f_ingress[2],
                      self.f_edge[edge_variant])
        for k in (1, 2):
            self.start_app(k)
        if edge_first:
            self.start_edge(control_url=edge_control_url)
        for k in (1, 2):
            self.start_ingress(k)
        if not edge_first:
            self.start_edge(control_url=edge_control_url)
        self.wait_edge_endpoints((1, 2))
        return self

    def load(self, conns=2, rate=250, **kw):
        ld = Load(self.edge_host, self.edge_port, conns=conns, rate=rate, **kw)
        self.procs.closers.append(ld.stop)
        return ld.start()


@pytest.fixture
def procs(tmp_path):
    yield from Procs(tmp_path).owned()


@pytest.fixture
def env(procs, tmp_path):
    return Env(procs, tmp_path)


@pytest.fixture(params=["plain", "mtls"])
def env_both(procs, tmp_path, request):
    """The topology twice: gateways in plain text, then with edge -> ingress mTLS."""
    return Env(procs, tmp_path, mtls=request.param == "mtls")
