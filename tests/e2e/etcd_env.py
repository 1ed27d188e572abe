"""A real etcd for the control plane's etcd-store scenarios (test_control_etcd.py,
test_control_ha.py, bench/propagation.py): Debian's etcd-server 3.4, one member or several on
the caller's loopback addresses, each with its own data directory, started by the test and
stopped by pid; and the v3 JSON gateway calls the scenarios need (put, range, the members'
status and leader, compaction).

stdlib and support.py only. Nothing waits with a bare sleep: every wait polls a condition.
"""

import base64
import json
import shutil

from support import Proc, free_port, wait_until
from support import http_request as http

ETCD = shutil.which("etcd")
SKIP_REASON = "etcd is not installed: scripts/deps.sh installs etcd-server"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def prefix_end(prefix):
    """etcd's range_end for every key that starts with prefix."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Member:
    """One etcd member: its addresses, its process (None before the first start)."""

    def __init__(self, name, host):
        self.name = name
        self.host = host
        self.client = free_port(host)
        self.peer = free_port(host)
        self.proc = None

    @property
    def endpoint(self):
        return f"{self.host}:{self.client}"

    @property
    def url(self):
        return f"http://{self.endpoint}"

    def running(self):
        return self.proc is not None and self.proc.alive()

    def kill9(self):
        """SIGKILL, as a machine that goes away."""
        self.proc.kill9()

    def stop(self):
        if self.running():
            self.proc.stop()

    def post(self, path, body, timeout=2):
        """(status, decoded JSON or None) of one v3 JSON gateway call to this member."""
        status, _, out = http("POST", self.url + path, json.dumps(body), timeout=timeout)
        try:
            return status, json.loads(out)
        except ValueError:
            return status, None

    def healthy(self):
        """True when it runs and answers /health with a leader (a member that lost quorum or is
        still electing answers false)."""
        if not self.running():
            return False
        try:
            status, _, body = http("GET", self.url + "/health", timeout=2)
        except OSError:
            return False
        return status == 200 and json.loads(body).get("health") == "true"

    def status(self):
        """/v3/maintenance/status: {"header": {"member_id": ...}, "leader": ..., ...}."""
        status, out = self.post("/v3/maintenance/status", {})
        assert status == 200, out
        return out


class Etcd:
    """etcd members on hosts, each with its own data directory under tmp.

    procs: a support.Procs that owns the processes (its finalizer stops them), else stop()
    does. extra: more etcd flags for every member."""

    def __init__(self, tmp, hosts, procs=None, extra=()):
        self.tmp = tmp
        self.procs = procs
        self.extra = list(extra)
        self.members = [Member(f"m{i}", host) for i, host in enumerate(hosts)]
        self.initial = ",".join(f"{m.name}=http://{m.host}:{m.peer}" for m in self.members)

    @property
    def endpoints(self):
        """HOST:PORT,... of every member's client URL: what --store etcd:// takes."""
        return ",".join(m.endpoint for m in self.members)

    def argv(self, m):
        client, peer = m.url, f"http://{m.host}:{m.peer}"
        return [ETCD, "--name", m.name, "--data-dir", str(self.tmp / f"etcd-{m.name}"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", self.initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", "crossgate-e2e", *self.extra]

    def start_member(self, m):
        """Starts m (again: it rejoins from its data directory); does not wait."""
        if m.proc is None:
            m.proc = Proc(self.argv(m), self.tmp, f"etcd-{m.name}")
            if self.procs is not None:
                self.procs.add(m.proc)
        else:
            m.proc.start()
        return m

    def start(self):
        """Starts every member that is not running and waits until all are healthy."""
        for m in self.members:
            if not m.running():
                self.start_member(m)
        wait_until(self.healthy, what="etcd healthy")
        return self

    def healthy(self):
        for m in self.members:
            if m.proc is not None:
                m.proc.check_alive()
        return all(m.healthy() for m in self.members)

    def stop(self):
        for m in self.members:
            m.stop()

    # --- who leads

    def leader(self):
        """The member every running member names as leader (polled until they agree)."""

        def agreed():
            ids = {}
            leaders = set()
            for m in self.members:
                if not m.running():
                    continue
                st = m.status()
                ids[st["header"]["member_id"]] = m
                leaders.add(st.get("leader"))
            if len(leaders) == 1:
                lead = leaders.pop()
                return ids.get(lead)
            return None

        return wait_until(agreed, what="etcd members agree on a leader")

    def followers(self):
        lead = self.leader()
        return [m for m in self.members if m is not lead and m.running()]

    # --- the v3 JSON gateway, through the first running member

    def any_member(self):
        for m in self.members:
            if m.healthy():
                return m
        raise AssertionError("no etcd member is healthy")

    def call(self, path, body):
        status, out = self.any_member().post(path, body)
        assert status == 200, (path, status, out)
        return out

    def put(self, key, value):
        """A write by another client, straight through the gateway."""
        self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def get(self, key):
        return self.call("/v3/kv/range", {"key": b64(key)})

    def range(self, prefix):
        """{key: value} of every key under prefix, as etcd holds them."""
        out = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                for kv in out.get("kvs", [])}

    def names(self, prefix):
        """The last segment of every key under prefix, sorted."""
        return sorted(k.rsplit("/", 1)[1] for k in self.range(prefix))

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": b64("/"), "limit": 1})["header"]["revision"])

    def compact(self, revision=None):
        """Compacts the key space up to revision (default: the current one), physically (the
        call returns once the old revisions are gone). Returns the revision."""
        rev = revision or self.revision()
        self.call("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev
