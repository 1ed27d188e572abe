"""End-to-end scenarios of the control plane on its etcd store: `crossgate control --store
etcd://...` against a real etcd (Debian's etcd-server 3.4) that the test starts itself, one
member or three (127.0.95.1-3), each with its own data directory, stopped by pid.

Nothing waits with a bare sleep: every wait polls a condition with a deadline.
"""

import base64
import json

import pytest

from etcd_env import ETCD, SKIP_REASON, Etcd
from support import BIN, Proc, free_port, wait_until
from support import http_request as http

HOST = "127.0.95.1"

pytestmark = pytest.mark.skipif(ETCD is None, reason=SKIP_REASON)


def cluster_yaml(name, region, version=None):
    rv = f", resourceVersion: \"{version}\"" if version is not None else ""
    return (f"apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {{name: {name}{rv}}}\n"
            f"spec:\n  locality: {{region: {region}}}\n")


class Control:
    def __init__(self, tmp, store, extra=()):
        self.tmp = tmp
        self.extra = list(extra)
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.store = store
        self.p = None

    def start(self):
        argv = [BIN, "control", "--listen", f"{HOST}:{self.port}", "--data", str(self.tmp / "data"),
                "--store", f"etcd://{self.store}", "--insecure", *self.extra]
        if self.p is None:
            self.p = Proc(argv, self.tmp, "control")
        else:
            self.p.start()
        wait_until(lambda: self.p.check_alive() and http("GET", self.url + "/ready", timeout=2)[0] == 200,
                   what="control plane ready")
        return self

    def stop(self):
        if self.p and self.p.alive():
            self.p.stop()

    def apply(self, text, name="c.yaml"):
        status, _, body = http("POST", self.url + "/v1/apply", text,
                               headers={"x-crossgate-filename": name})
        return status, body.decode()

    def clusters(self):
        status, _, body = http("GET", self.url + "/v1/resources/cluster")
        assert status == 200, body
        return {r["name"]: r for r in json.loads(body)["items"]}

    def region(self, name):
        return self.clusters()[name]["resource"]["spec"]["locality"]["region"]


@pytest.fixture
def etcd1(tmp_path):
    e = Etcd(tmp_path, [HOST])
    try:
        yield e.start()
    finally:
        e.stop()


@pytest.fixture
def control(tmp_path, etcd1):
    c = Control(tmp_path, etcd1.endpoints)
    try:
        yield c.start()
    finally:
        c.stop()


def test_resources_survive_a_restart_of_the_control_plane(control, etcd1):
    status, body = control.apply(cluster_yaml("c1", "r1") + "---\n" + cluster_yaml("c2", "r2"))
    assert status == 200, body
    answer = json.loads(body)
    assert [r["action"] for r in answer["results"]] == ["created", "created"]
    # versions and the revision are etcd's: the key's mod_revision, the header's revision
    kv = etcd1.get("/crossgate/resources/Cluster///c1")
    assert answer["results"][0]["version"] == int(kv["kvs"][0]["mod_revision"])
    assert answer["revision"] == int(kv["kvs"][0]["mod_revision"])
    before = control.clusters()
    control.stop()
    control.start()
    after = control.clusters()
    assert sorted(after) == ["c1", "c2"]
    assert after["c1"]["version"] == before["c1"]["version"]
    assert after["c2"]["resource"] == before["c2"]["resource"]


def test_instance_leases_survive_a_restart(control, etcd1):
    reg = {"cluster": "c1", "namespace": "bookinfo", "labels": {"app": "ingress"},
           "address": "127.0.95.10"}
    status, _, body = http("POST", control.url + "/v1/instances", json.dumps(reg))
    assert status == 200, body
    iid = json.loads(body)["id"]
    assert etcd1.names("/crossgate/leases/") == [iid]
    control.stop()
    control.start()
    # taken back from etcd, same id: its heartbeat simply goes on
    status, _, body = http("PUT", control.url + f"/v1/instances/{iid}/heartbeat", "")
    assert status == 200, body
    status, _, body = http("DELETE", control.url + f"/v1/instances/{iid}")
    assert status == 200, body
    assert etcd1.names("/crossgate/leases/") == []


def test_stale_resource_version_is_409(control, etcd1):
    status, body = control.apply(cluster_yaml("c1", "r1"))
    assert status == 200, body
    v1 = json.loads(body)["results"][0]["version"]
    status, body = control.apply(cluster_yaml("c1", "r2", version=v1))
    assert status == 200, body
    assert json.loads(body)["results"][0]["action"] == "configured"
    # v1 is stale now
    status, body = control.apply(cluster_yaml("c1", "r3", version=v1))
    assert status == 409, body
    assert "conflict" in body
    assert control.region("c1") == "r2"


def test_compare_in_etcd_catches_another_writer(control, etcd1):
    """A write the control plane did not see moves the key's mod_revision: the txn's compare
    fails in etcd, though the control plane's own check passed."""
    status, body = control.apply(cluster_yaml("c1", "r1"))
    assert status == 200, body
    v = json.loads(body)["results"][0]["version"]
    key = "/crossgate/resources/Cluster///c1"
    kv = etcd1.get(key)["kvs"][0]
    etcd1.put(key, base64.b64decode(kv["value"]).decode())
    status, body = control.apply(cluster_yaml("c1", "r9", version=v))
    assert status == 409, body
    assert "conflict: a resource changed while this request ran" in body


def test_writes_refused_while_etcd_is_down_and_accepted_once_back(control, etcd1):
    status, body = control.apply(cluster_yaml("c1", "r1"))
    assert status == 200, body
    etcd1.stop()
    status, body = control.apply(cluster_yaml("c2", "r2"))
    assert status == 503, body
    lines = body.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("store unavailable: "), body
    assert f"etcd {etcd1.endpoints}" in lines[0]
    # reads of the in-memory state go on
    assert sorted(control.clusters()) == ["c1"]
    etcd1.start()
    status, body = control.apply(cluster_yaml("c2", "r2"))
    assert status == 200, body
    assert sorted(control.clusters()) == ["c1", "c2"]


def test_an_unanswered_write_is_read_back(tmp_path, etcd1):
    """etcd frozen: the txn times out (503, after --store-timeout) though etcd may apply it once
    it runs again; the next write reads every resource back, so the control plane shows what
    etcd holds."""
    control = Control(tmp_path, etcd1.endpoints, extra=["--store-timeout", "500ms"])
    try:
        control.start()
        status, body = control.apply(cluster_yaml("c1", "r1"))
        assert status == 200, body
        etcd1.members[0].proc.freeze()
        try:
            status, body = control.apply(cluster_yaml("c2", "r2"))
            assert status == 503, body
            assert body.startswith("store unavailable: ") and "timed out" in body, body
        finally:
            etcd1.members[0].proc.thaw()
        wait_until(etcd1.healthy, what="etcd healthy again")
        status, body = control.apply(cluster_yaml("c3", "r3"))
        assert status == 200, body
        held = etcd1.names("/crossgate/resources/Cluster/")
        assert "c1" in held and "c3" in held
        assert sorted(control.clusters()) == held
    finally:
        control.stop()


def test_next_endpoint_is_tried_on_a_connection_failure(tmp_path, etcd1):
    dead = f"{HOST}:{free_port(HOST)}"  # nothing listens there
    c = Control(tmp_path, f"{dead},{etcd1.endpoints}")
    try:
        c.start()
        status, body = c.apply(cluster_yaml("c1", "r1"))
        assert status == 200, body
    finally:
        c.stop()


def test_bad_store_spec_is_one_line(tmp_path):
    import subprocess
    r = subprocess.run([BIN, "control", "--data", str(tmp_path / "d"), "--insecure",
                        "--store", "etcd://not-an-address"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "expected an IP:PORT" in r.stderr


@pytest.fixture
def etcd3(tmp_path):
    e = Etcd(tmp_path, ["127.0.95.1", "127.0.95.2", "127.0.95.3"])
    try:
        yield e.start()
    finally:
        e.stop()


def test_three_members_a_member_down_then_quorum_lost(tmp_path, etcd3):
    c = Control(tmp_path, etcd3.endpoints).start()
    try:
        status, body = c.apply(cluster_yaml("c1", "r1"))
        assert status == 200, body
        # the first endpoint, the one in use, goes away: the next one takes the write
        first, second = etcd3.members[0].proc, etcd3.members[1].proc
        first.stop()
        status, body = c.apply(cluster_yaml("c2", "r2"))
        assert status == 200, body
        # one member of three left: no quorum, writes refused with the one line
        second.stop()
        status, body = c.apply(cluster_yaml("c3", "r3"))
        assert status == 503, body
        assert len(body.strip().splitlines()) == 1 and body.startswith("store unavailable: "), body
        assert sorted(c.clusters()) == ["c1", "c2"]
        first.start()
        second.start()
        wait_until(etcd3.healthy, what="etcd healthy again")
        # a member may still be electing a leader: the write goes through once one is elected
        wait_until(lambda: c.apply(cluster_yaml("c3", "r3"))[0] == 200, what="write accepted")
        assert sorted(c.clusters()) == ["c1", "c2", "c3"]
        c.stop()
        c.start()
        assert sorted(c.clusters()) == ["c1", "c2", "c3"]
    finally:
        c.stop()
