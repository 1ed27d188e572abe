"""Edge-gateway failover topology for the test_edge_*.py scenarios: one edge gateway, workload
clusters with ingress gateways and productpage apps, a steady load generator and helpers to
read traffic shares and the edge's /clusters view.

Stdlib, pytest and support.py only, so it does not depend on the gateway-core conftest. Each test
module passes its own 127.0.N.0/24 block; inside a block the layout is

    edge                         N.1
    cluster-k, ingress instance i N.(10k + i)      (i = 1, 2)
    cluster-k, productpage app    N.(10k + 5)

Ports are free ports picked per test. Every process runs in its own process group and is
killed by the fixture's finalizer, on failure too. Nothing waits with a bare sleep: waits poll
the admin endpoint or the load records with a deadline.
"""

import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest

from support import (BIN, DEADLINE, HOSTNAME, Proc, Procs, free_port, free_port_on, http_request,
                     tcp_connectable, wait_until)

SERVICE = "bookinfo/productpage.bookinfo.svc.cluster.local"

# the name the test_edge_* modules (and the code below, where Load has a wait_until of its own) use
wait_for = wait_until


class Gateway(Proc):
    """A `crossgate gateway` in static mode, with its admin endpoint."""

    def __init__(self, workdir, name, address, cluster, namespace, labels, resource_dir, workers):
        self.address = address
        self.admin_port = free_port(address)
        self.access_log = Path(workdir) / f"{name}.access.log"
        argv = [BIN, "gateway", "--cluster", cluster, "--namespace", namespace, "--address", address,
                "--admin", f"{address}:{self.admin_port}", "--workers", str(workers),
                "--access-log", self.access_log, "-f", resource_dir]
        for k, v in labels.items():
            argv += ["--label", f"{k}={v}"]
        super().__init__(argv, workdir, name)

    def admin_get(self, path, timeout=5):
        status, _, body = http_request("GET", f"http://{self.address}:{self.admin_port}{path}",
                                       timeout=timeout)
        return status, body.decode()

    def config_version(self):
        return json.loads(self.admin_get("/config_dump")[1])["version"]

    def ready(self):
        return self.check_alive() and self.admin_get("/ready", timeout=1)[0] == 200

    def clusters(self):
        status, text = self.admin_get("/clusters")
        assert status == 200, f"/clusters answered {status}: {text}"
        return json.loads(text)

    def metrics(self):
        """Prometheus text as {(name, frozenset(labels)): value}."""
        status, text = self.admin_get("/metrics")
        assert status == 200, text
        values = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            name, _, labels = head.partition("{")
            pairs = frozenset(tuple(kv.split("=", 1)) for kv in labels.rstrip("}").split(",") if kv)
            values[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
        return values

    def access_errors(self, limit=10):
        """The access log's lines for answers other than 200, for assertion messages."""
        try:
            lines = self.access_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []
        return [ln for ln in lines if '" 200 ' not in ln][:limit]

    def access_entries(self):
        """Access log lines as (status, flags, upstream_host)."""
        out = []
        try:
            lines = self.access_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                after = line.split('" ', 1)[1].split()
                status, flags = int(after[0]), after[1]
            except (IndexError, ValueError):
                continue
            out.append((status, flags, line.rsplit('"', 2)[-2]))
        return out


def metric_sum(values, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in values.items() if n == name and want <= ls)


# ---------------------------------------------------------------- resources


def _doc(kind, metadata, spec, api="crossgate/v1"):
    return {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec}


def write_docs(path, docs):
    """YAML file of JSON-style documents (JSON is YAML 1.2), written atomically."""
    tmp = path.with_name("." + path.name + ".tmp")  # dot files are not loaded from a directory
    tmp.write_text("\n---\n".join(json.dumps(d, indent=1) for d in docs) + "\n")
    os.replace(tmp, path)


def route_rule(dest, match_headers=None):
    """dest: "auto", a list of cluster names (named), or {cluster: weight} (weighted)."""
    if dest == "auto":
        cd = {}
    elif isinstance(dest, dict):
        cd = {"clusters": [{"name": n, "weight": w} for n, w in dest.items()]}
    else:
        cd = {"clusters": [{"name": n} for n in dest]}
    rule = {"route": {"clusterDestination": cd}}
    if match_headers:
        rule["match"] = [{"headers": {k: {"exact": v} for k, v in match_headers.items()}}]
    return rule


class WorkloadCluster:
    def __init__(self, net, index, region, instances):
        self.name = f"cluster-{index}"
        self.index = index
        self.region = region
        self.label = f"ingressgw-{index}"
        self.ingress_addrs = [f"{net}.{10 * index + i}" for i in range(1, instances + 1)]
        self.app_addr = f"{net}.{10 * index + 5}"
        self.ingresses = []  # Gateway, one per instance
        self.app = None
        self.app_port = None


class Topology:
    """The guide's demo environment on loopback. Build with the `edge_topology` fixture.

    clusters: [(index, region, ingress instances)], default cluster-1 in region-1 and cluster-2 in
    region-2 with one instance each. edge_rules: the edge server's rules (route_rule(...) dicts).
    knobs: server-level settings (retries, outlierDetection, healthCheck, failover). extra_docs:
    more resources (e.g. a Cluster without a serving Gateway), or a function of the topology
    returning them. serve: the clusters whose ingress Gateway serves the hostname (default all)."""

    def __init__(self, workdir, net, clusters=((1, "region-1", 1), (2, "region-2", 1)),
                 edge_rules=None, knobs=None, extra_docs=(), serve=None, edge_workers=2):
        self.workdir = Path(workdir)
        self.net = net
        # the same resources in two directories: the ingress gateways read one, the edge the
        # other, so a test can choose who sees a change first (as a control plane's pushes may)
        self.res_dir = self.workdir / "resources"
        self.edge_res_dir = self.workdir / "edge-resources"
        self.res_dir.mkdir(parents=True, exist_ok=True)
        self.edge_res_dir.mkdir(parents=True, exist_ok=True)
        self.clusters = {}
        for index, region, instances in clusters:
            c = WorkloadCluster(net, index, region, instances)
            self.clusters[c.name] = c
        self.edge_addr = f"{net}.1"
        self.edge_port = free_port(self.edge_addr)
        self.ingress_port = free_port_on([a for c in self.clusters.values() for a in c.ingress_addrs])
        for c in self.clusters.values():
            c.app_port = free_port(c.app_addr)
        self.edge_rules = edge_rules or [route_rule("auto")]
        self.knobs = knobs or {}
        self.extra_docs = extra_docs
        # clusters whose ingress Gateway serves the hostname (all by default)
        self.serve = set(serve) if serve is not None else set(self.clusters)
        self.edge_workers = edge_workers
        self.procs = Procs(self.workdir)
        self.loads = []
        self.edge = None
        self.epoch = time.monotonic()  # time base shared by every load of the topology

    # --- resources

    def cluster_docs(self):
        docs = [_doc("Cluster", {"name": "cluster-edge"}, {"locality": {"region": "region-1"}})]
        for c in self.clusters.values():
            docs.append(_doc("Cluster", {"name": c.name}, {
                "locality": {"region": c.region},
                "gateways": [{"address": a, "namespace": "bookinfo", "labels": {"app": c.label}}
                             for a in c.ingress_addrs]}))
        return docs

    def workload_docs(self):
        docs = []
        for c in self.clusters.values():
            docs.append(_doc("Service", {"name": "productpage", "namespace": "bookinfo", "cluster": c.name},
                             {"hostname": "productpage.bookinfo.svc.cluster.local",
                              "endpoints": [{"address": c.app_addr, "port": c.app_port}]}))
            if c.name in self.serve:
                docs.append(ingress_gateway_doc(c, self.ingress_port, HOSTNAME))
        return docs

    def edge_doc(self):
        server = {"name": "bookinfo", "port": self.edge_port, "hostname": HOSTNAME,
                  "routing": {"rules": self.edge_rules}}
        server.update(self.knobs)
        return _doc("Gateway", {"name": "bookinfo-edge", "organization": "tse", "tenant": "tse",
                                "workspace": "edge-ws", "group": "edge-gwgroup"},
                    {"workloadSelector": {"namespace": "edge", "labels": {"app": "edgegw"}},
                     "http": [server]}, api="gateway.tsb.tetrate.io/v2")

    def write_resources(self, ingresses=True, edge=True):
        extra = self.extra_docs(self) if callable(self.extra_docs) else list(self.extra_docs)
        for d in [self.res_dir] * ingresses + [self.edge_res_dir] * edge:
            write_docs(d / "clusters.yaml", self.cluster_docs() + extra)
            write_docs(d / "workloads.yaml", self.workload_docs())
            write_docs(d / "edge.yaml", [self.edge_doc()])

    def set_serving(self, clusters, ingresses=True, edge=True):
        """Rewrites the resources so that only these clusters' ingress Gateways serve the hostname
        (the guide's `tctl delete/apply -f bookinfo-ingress-N.yaml`), for the ingress gateways,
        the edge or both; they reload on their own (file poll)."""
        self.serve = set(clusters)
        self.write_resources(ingresses, edge)

    # --- processes

    def start(self):
        self.write_resources()
        for c in self.clusters.values():
            c.app = self.procs.spawn([BIN, "app", "--listen", f"{c.app_addr}:{c.app_port}",
                                      "--cluster", c.name], f"app-{c.index}",
                                     listen=(c.app_addr, c.app_port))
        for c in self.clusters.values():
            for i, addr in enumerate(c.ingress_addrs, 1):
                name = f"ingress-{c.index}" + (f"-{i}" if len(c.ingress_addrs) > 1 else "")
                c.ingresses.append(self.procs.add(Gateway(self.workdir, name, addr, c.name, "bookinfo",
                                                          {"app": c.label}, self.res_dir, 1)))
        self.edge = self.procs.add(Gateway(self.workdir, "edge", self.edge_addr, "cluster-edge", "edge",
                                           {"app": "edgegw"}, self.edge_res_dir, self.edge_workers))
        for c in self.clusters.values():
            wait_for(lambda: c.app.check_alive() and tcp_connectable(c.app_addr, c.app_port),
                     what=f"app of {c.name}")
            for g in c.ingresses:
                self.wait_ingress_up(g, check=c.name in self.serve)
        wait_for(self.edge.ready, what="edge /ready")
        wait_for(lambda: tcp_connectable(self.edge_addr, self.edge_port), what="edge listener")
        return self

    def wait_ingress_up(self, g, check=True):
        wait_for(g.ready, what=f"{g.name} /ready")
        if check:
            wait_for(lambda: tcp_connectable(g.address, self.ingress_port), what=f"{g.name} listener")

    def restart(self, proc):
        """Starts a killed process again (same address and ports) and waits until it serves."""
        proc.restart()
        if isinstance(proc, Gateway):
            self.wait_ingress_up(proc)
        else:
            wait_for(lambda: proc.check_alive() and tcp_connectable(*proc.listen), what=f"{proc.name} listening")

    def close(self):
        for ld in self.loads:
            ld.stop()
        return self.procs.finalize()

    # --- the edge's view

    def endpoint(self, cluster, instance=1):
        """The edge's name for an ingress instance ("ip:port")."""
        return f"{self.clusters[cluster].ingress_addrs[instance - 1]}:{self.ingress_port}"

    def destinations(self):
        return self.edge.clusters()["destinations"]

    def destination(self, mode=None, name=None):
        """A cluster destination: the one called name, else the first of a mode, else the last
        one (the edge's default rule)."""
        ds = [d for d in self.destinations() if d["mode"] != "service"]
        if name is not None:
            ds = [d for d in ds if d["name"] == name]
        elif mode is not None:
            ds = [d for d in ds if d["mode"] == mode][:1]
        assert ds, f"no such destination ({mode=}, {name=}) in {self.destinations()}"
        return ds[-1]

    def endpoint_state(self, address, dest=None):
        d = dest or self.destination()
        for ep in d["endpoints"]:
            if ep["address"] == address:
                return ep
        raise AssertionError(f"{address} not among {[e['address'] for e in d['endpoints']]}")

    def wait_health(self, address, states, timeout=DEADLINE, **which):
        """Polls /clusters until the endpoint's health (in destination(**which)) is one of
        states; returns (state, seconds waited)."""
        t0 = time.monotonic()
        states = (states,) if isinstance(states, str) else tuple(states)

        def check():
            h = self.endpoint_state(address, self.destination(**which))["health"]
            return h if h in states else None
        h = wait_for(check, timeout=timeout, what=f"{address} health in {states}")
        return h, time.monotonic() - t0

    def priority_load(self, **which):
        return {p["priority"]: p["load_percent"] for p in self.destination(**which)["priorities"]}

    # --- load

    def load(self, **kw):
        ld = Load(self.edge_addr, self.edge_port, epoch=self.epoch, **kw)
        self.loads.append(ld)
        return ld.start()


def ingress_gateway_doc(c, port, hostname):
    return _doc("Gateway", {"name": f"bookinfo-ingress-{c.index}", "organization": "tse", "tenant": "tse",
                            "workspace": "bookinfo-ws", "group": f"bookinfo-gwgroup-{c.index}"},
                {"workloadSelector": {"namespace": "bookinfo", "labels": {"app": c.label}},
                 "http": [{"name": "bookinfo", "port": port, "hostname": hostname,
                           "routing": {"rules": [{"route": {"serviceDestination": {"host": SERVICE}}}]}}]},
                api="gateway.tsb.tetrate.io/v2")


@pytest.fixture(name="edge_topology")
def edge_topology_fixture(tmp_path):
    """edge_topology(net, **Topology kwargs) starts the environment; all of it dies at teardown.
    A test module imports this function to get the fixture."""
    made = []

    def make(net, **kw):
        t = Topology(tmp_path / f"topo{len(made)}", net, **kw)
        made.append(t)
        return t.start()

    yield make
    complaints = []
    for t in made:
        complaints += t.close()
    assert not complaints, "\n".join(complaints)


# ---------------------------------------------------------------- load


class Rec:
    __slots__ = ("start", "end", "status", "cluster", "error")

    def __init__(self, start, end, status, cluster, error):
        self.start, self.end, self.status, self.cluster, self.error = start, end, status, cluster, error

    @property
    def ok(self):
        return self.status == 200

    def __repr__(self):
        return f"Rec(+{self.start:.3f}s {self.status} {self.cluster} {self.error or ''})"


class Load:
    """Steady traffic: `threads` keep-alive connections sending GET /productpage to the edge,
    each paced at `rate` requests/s (None: as fast as it can), recording every request.

    Bounded: stops after `duration` seconds or `max_requests` requests, whichever comes first."""

    def __init__(self, addr, port, threads=4, rate=100, duration=60, max_requests=50000, headers=None,
                 path="/productpage", timeout=5.0, epoch=None):
        self.addr, self.port = addr, port
        self.threads = threads
        self.rate = rate
        self.duration = duration
        self.max_per_thread = max(1, max_requests // threads)
        self.headers = {"Host": HOSTNAME, **(headers or {})}
        self.path = path
        self.timeout = timeout
        self.records = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.t0 = epoch

    def start(self):
        self.started = time.monotonic()
        if self.t0 is None:
            self.t0 = self.started
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def now(self):
        """Seconds since the epoch (the topology's start): the time base of every record."""
        return time.monotonic() - self.t0

    def _run(self):
        conn = None
        deadline = self.started + self.duration
        period = 1.0 / self.rate if self.rate else 0.0
        for _ in range(self.max_per_thread):
            if self._stop.is_set() or time.monotonic() >= deadline:
                break
            start = time.monotonic()
            status, cluster, error = 0, None, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.addr, self.port, timeout=self.timeout)
                conn.request("GET", self.path, headers=self.headers)
                r = conn.getresponse()
                r.read()
                status, cluster = r.status, r.getheader("x-app-cluster")
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                error = repr(e)
                if conn is not None:
                    conn.close()
                conn = None
            end = time.monotonic()
            with self._lock:
                self.records.append(Rec(start - self.t0, end - self.t0, status, cluster, error))
            if period:
                self._stop.wait(max(0.0, start + period - time.monotonic()))
        if conn is not None:
            conn.close()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)
        return self

    def wait_done(self, timeout=None):
        """Waits for the load to run out (duration or count)."""
        for t in self._threads:
            t.join(timeout if timeout is not None else self.duration + self.timeout + 5)
        return self

    # --- reading the records

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def window(self, t0=None, t1=None):
        """Records of requests started in [t0, t1) (load time)."""
        return [r for r in self.snapshot() if (t0 is None or r.start >= t0) and (t1 is None or r.start < t1)]

    def count(self):
        with self._lock:
            return len(self.records)

    def wait_count(self, n, timeout=30, since=None):
        """Polls until n requests have completed (started at or after `since`, load time)."""
        return wait_for(lambda: len(self.window(since)) >= n, timeout=timeout,
                        what=f"{n} requests (have {len(self.window(since))})")

    def wait_until(self, t, timeout=None):
        """Polls until the load clock reaches t and a request started after it has completed."""
        return wait_for(lambda: self.window(t), timeout=timeout or (t - self.now() + DEADLINE),
                        what=f"a request after load time {t:.2f}s")

    def wait_streak(self, pred, n, timeout=DEADLINE, since=None):
        """Polls until the last n records (started at or after `since`) all satisfy pred; returns
        the start time of the first of them."""
        def check():
            recs = sorted(self.window(since), key=lambda r: r.start)
            if len(recs) >= n and all(pred(r) for r in recs[-n:]):
                return recs[-n].start
            return None
        return wait_for(check, timeout=timeout, what=f"{n} requests in a row satisfying the condition")


def failures(recs):
    return [r for r in recs if not r.ok]


def assert_all_ok(topo, recs):
    """Every request answered 200; on failure the message has the edge's non-200 log lines."""
    fails = failures(recs)
    assert not fails, describe(recs) + "\nedge access log:\n" + "\n".join(topo.edge.access_errors())


def assert_back_on(load, cluster, t, settle=0.5, span=1.0):
    """Traffic has returned: requests started in [t + settle, t + settle + span) went (99 %+)
    to cluster. Waits for that window to be complete."""
    load.wait_until(t + settle + span)
    later = load.window(t + settle, t + settle + span)
    assert len(later) > 50 and shares(later).get(cluster, 0) >= 0.99, describe(later)


def first_start(recs, pred, default=None):
    """Start time of the first record satisfying pred."""
    return min((r.start for r in recs if pred(r)), default=default)


def shares(recs):
    """{cluster: fraction of the records answered 200 by it}; non-200s count as "status:N"."""
    out = {}
    for r in recs:
        key = r.cluster if r.ok else f"status:{r.status or r.error}"
        out[key] = out.get(key, 0) + 1
    n = len(recs) or 1
    return {k: v / n for k, v in out.items()}


def describe(recs, limit=10):
    """A short summary for assertion messages."""
    fails = failures(recs)
    return (f"{len(recs)} requests, shares {({k: round(v, 3) for k, v in shares(recs).items()})}, "
            f"{len(fails)} failed, first failures {fails[:limit]}")


def last_start(recs, pred):
    """Start time of the last record satisfying pred, or None."""
    ts = [r.start for r in recs if pred(r)]
    return max(ts) if ts else None
