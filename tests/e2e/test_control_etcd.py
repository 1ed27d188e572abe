"""End-to-end scenarios of the control plane on its etcd store: `crossgate control --store
etcd://...` against a real etcd (Debian's etcd-server 3.4) that the test starts itself, one
member or three (127.0.95.1-3), each with its own data directory, stopped by pid.

Nothing waits with a bare sleep: every wait polls a condition with a deadline.
"""

import base64
import json
import time

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
    def __init__(self, tmp, store, extra=(), name="control", token_file=None):
        self.tmp = tmp
        self.token_file = token_file
        self.extra = list(extra)
        self.name = name
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.store = store
        self.p = None

    def start(self, ready=True):
        auth = ["--token-file", str(self.token_file)] if self.token_file else ["--insecure"]
        argv = [BIN, "control", "--listen", f"{HOST}:{self.port}",
                "--data", str(self.tmp / f"data-{self.name}"),
                "--store", f"etcd://{self.store}", *auth, *self.extra]
        if self.p is None:
            self.p = Proc(argv, self.tmp, self.name)
        else:
            self.p.start()
        if ready:
            wait_until(lambda: self.ready()[0] == 200, what=f"{self.name} ready")
        else:
            wait_until(lambda: self.ready()[0] is not None, what=f"{self.name} answering")
        return self

    def ready(self):
        self.p.check_alive()
        try:
            status, _, body = http("GET", self.url + "/ready", timeout=2)
            return status, body.decode()
        except OSError:
            return None, ""

    def api(self, method, path, body=None, token=None):
        headers = {"authorization": f"Bearer {token}"} if token else None
        status, _, out = http(method, self.url + path, body, headers=headers)
        return status, out.decode()

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


def test_another_writers_change_arrives_by_the_watch_and_a_stale_version_is_409(control, etcd1):
    """A write straight into etcd (another writer) reaches the control plane's mirror through
    its watch, without any request to it; an apply carrying the version read before is 409."""
    status, body = control.apply(cluster_yaml("c1", "r1"))
    assert status == 200, body
    v = json.loads(body)["results"][0]["version"]
    key = "/crossgate/resources/Cluster///c1"
    kv = etcd1.get(key)["kvs"][0]
    doc = json.loads(base64.b64decode(kv["value"]).decode())
    doc["json"] = doc["json"].replace('"r1"', '"r7"')
    assert '"r7"' in doc["json"]
    etcd1.put(key, json.dumps(doc))
    moved = int(etcd1.get(key)["kvs"][0]["mod_revision"])
    wait_until(lambda: control.clusters()["c1"]["version"] == moved, what="the watch's change")
    assert control.region("c1") == "r7"
    status, body = control.apply(cluster_yaml("c1", "r9", version=v))
    assert status == 409, body
    assert f"the stored resource is at version {moved}" in body
    assert control.region("c1") == "r7"


def test_a_watch_resumed_past_a_compaction_reads_everything_again(control, etcd1):
    """The control plane frozen while etcd restarts (its watch's connection ends), another
    writer changes a resource twice and etcd compacts its history past the mirror's revision:
    thawed, the control plane watches again from a compacted revision, etcd cancels that watch,
    and the control plane reads everything again, then follows the watch from there."""
    status, body = control.apply(cluster_yaml("c1", "r1"))
    assert status == 200, body
    key = "/crossgate/resources/Cluster///c1"
    doc = json.loads(base64.b64decode(etcd1.get(key)["kvs"][0]["value"]).decode())

    def region(r):
        d = dict(doc, json=doc["json"].replace('"r1"', f'"{r}"'))
        assert f'"{r}"' in d["json"]
        return json.dumps(d)

    control.p.freeze()
    try:
        etcd1.stop()
        etcd1.start()
        etcd1.put(key, region("r6"))
        etcd1.put(key, region("r7"))
        rev = etcd1.compact()
    finally:
        control.p.thaw()
    wait_until(lambda: control.region("c1") == "r7", what="everything read again")
    assert control.clusters()["c1"]["version"] == int(rev)
    err = control.p.err_path.read_text()
    assert "compacted revision" in err and "reading everything again" in err, err
    # the watch goes on from the revision read
    etcd1.put(key, region("r8"))
    wait_until(lambda: control.region("c1") == "r8", what="the watch after the compaction")


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
            # not sent to another endpoint as if it had not happened: it may have been
            assert "(the write may have been applied)" in body, body
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


def registration(address):
    return json.dumps({"cluster": "c1", "namespace": "ns", "labels": {"app": "gw"},
                       "address": address})


def instances(c):
    status, body = c.api("GET", "/v1/instances")
    assert status == 200, body
    return {i["id"]: i for i in json.loads(body)["instances"]}


def test_two_replicas_share_resources_instances_and_snapshot_versions(tmp_path, etcd1):
    """Two control planes on one etcd: each one's writes reach the other through its watch,
    an instance registered at one heartbeats, watches and deregisters at the other, and both
    hand out the same snapshot version for it."""
    a = Control(tmp_path, etcd1.endpoints, name="control-a").start()
    b = Control(tmp_path, etcd1.endpoints, name="control-b").start()
    try:
        status, body = a.apply(cluster_yaml("c1", "r1"))
        assert status == 200, body
        wait_until(lambda: "c1" in b.clusters(), what="a's apply at b")
        assert b.clusters()["c1"]["version"] == a.clusters()["c1"]["version"]
        status, body = b.apply(cluster_yaml("c2", "r2"))
        assert status == 200, body
        wait_until(lambda: sorted(a.clusters()) == ["c1", "c2"], what="b's apply at a")

        status, body = a.api("POST", "/v1/instances", registration("127.0.95.10"))
        assert status == 200, body
        iid = json.loads(body)["id"]
        wait_until(lambda: iid in instances(b), what="a's instance at b")

        def version(c):
            status, body = c.api("GET", f"/v1/instances/{iid}/snapshot?after=0&timeout_ms=0")
            assert status == 200, body
            return json.loads(body)["version"]
        wait_until(lambda: version(a) == version(b), what="the same version at both")

        # the gateway moves to b: its heartbeats renew the lease there, and a, which hears
        # none, keeps the instance (the renewals reach it through the store)
        deadline = time.monotonic() + 4.5  # past the 3 s TTL
        while time.monotonic() < deadline:
            assert b.api("PUT", f"/v1/instances/{iid}/heartbeat")[0] == 200
            assert iid in instances(a)
            time.sleep(0.5)  # the heartbeat interval, not a wait for anything
        assert etcd1.names("/crossgate/leases/") == [iid]

        # a change at b moves the snapshot at both, to the same version
        status, body = b.apply(cluster_yaml("c3", "r3"))
        assert status == 200, body
        wait_until(lambda: "c3" in a.clusters(), what="b's apply at a")
        wait_until(lambda: version(a) == version(b), what="the same version at both")

        assert b.api("DELETE", f"/v1/instances/{iid}")[0] == 200
        wait_until(lambda: iid not in instances(a), what="the deregistration at a")
        assert etcd1.names("/crossgate/leases/") == []
    finally:
        a.stop()
        b.stop()


def test_a_replica_that_dies_loses_no_instance(tmp_path, etcd1):
    """An instance registered at a replica that is killed lives on at the other as long as its
    gateway heartbeats there, and expires there a TTL after it stops."""
    a = Control(tmp_path, etcd1.endpoints, name="control-a").start()
    b = Control(tmp_path, etcd1.endpoints, name="control-b").start()
    try:
        status, body = a.api("POST", "/v1/instances", registration("127.0.95.11"))
        assert status == 200, body
        iid = json.loads(body)["id"]
        wait_until(lambda: iid in instances(b), what="a's instance at b")
        a.p.kill9()
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            assert b.api("PUT", f"/v1/instances/{iid}/heartbeat")[0] == 200
            time.sleep(0.5)  # the heartbeat interval, not a wait for anything
        assert iid in instances(b)
        # no more heartbeats: b expires it and drops its lease from the store
        wait_until(lambda: iid not in instances(b), timeout=10, what="the lease to expire at b")
        wait_until(lambda: etcd1.names("/crossgate/leases/") == [], what="the lease dropped")
    finally:
        a.stop()
        b.stop()


def test_started_while_etcd_is_down_says_so_and_recovers(tmp_path, etcd1):
    """A control plane started while etcd is unreachable stays up, says "store unavailable" on
    /ready and on every request, never answers from an empty mirror, and serves the store once
    etcd is back, without a restart."""
    first = Control(tmp_path, etcd1.endpoints, name="control-a").start()
    assert first.apply(cluster_yaml("c1", "r1"))[0] == 200
    first.stop()
    etcd1.stop()
    c = Control(tmp_path, etcd1.endpoints, name="control-b").start(ready=False)
    try:
        status, body = c.ready()
        assert status == 503 and body.startswith("store unavailable: "), body
        status, body = c.api("GET", "/v1/resources/cluster")
        assert status == 503 and body.startswith("store unavailable: "), body
        status, body = c.apply(cluster_yaml("c2", "r2"))
        assert status == 503 and body.startswith("store unavailable: "), body
        status, body = c.api("POST", "/v1/instances", registration("127.0.95.12"))
        assert status == 503, body
        import subprocess
        r = subprocess.run([BIN, "status", "--control", c.url], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode != 0 and "store unavailable: " in r.stderr, r.stderr
        etcd1.start()
        wait_until(lambda: c.ready()[0] == 200, timeout=15, what="ready once etcd is back")
        assert sorted(c.clusters()) == ["c1"]
        assert c.apply(cluster_yaml("c2", "r2"))[0] == 200
        assert sorted(c.clusters()) == ["c1", "c2"]
    finally:
        c.stop()


def test_tokens_are_shared_by_the_replicas(tmp_path, etcd1):
    """Authentication on (no --insecure), one admin credential for both: a join token created at
    one replica registers and heartbeats at the other, and revoking it at either shuts it out
    at both."""
    admin = "cgt-e2e-admin-credential-0123456789"
    token_file = tmp_path / "admin.token"
    token_file.write_text(admin + "\n")
    a = Control(tmp_path, etcd1.endpoints, name="control-a", token_file=token_file).start()
    b = Control(tmp_path, etcd1.endpoints, name="control-b", token_file=token_file).start()
    try:
        status, body = a.api("POST", "/v1/tokens", json.dumps({"role": "join", "cluster": "c1"}),
                             token=admin)
        assert status == 200, body
        made = json.loads(body)
        join, tid = made["token"], made["id"]
        # the secret is never stored: only its digest, under meta/tokens
        stored = base64.b64decode(etcd1.get("/crossgate/meta/tokens")["kvs"][0]["value"]).decode()
        assert tid in stored and join not in stored
        wait_until(lambda: tid in b.api("GET", "/v1/tokens", token=admin)[1], what="the token at b")
        # the join token registers its connection's own address (urllib's source: 127.0.0.1)
        reg = json.dumps({"cluster": "c1", "namespace": "ns", "labels": {"app": "gw"},
                          "address": "127.0.0.1"})
        status, body = b.api("POST", "/v1/instances", reg, token=join)
        assert status == 200, body
        iid = json.loads(body)["id"]
        wait_until(lambda: iid in {i["id"] for i in json.loads(
            a.api("GET", "/v1/instances", token=admin)[1])["instances"]}, what="the instance at a")
        assert a.api("PUT", f"/v1/instances/{iid}/heartbeat", token=join)[0] == 200
        # another cluster's registration is still refused: the scope came along
        other = reg.replace('"c1"', '"c2"')
        assert a.api("POST", "/v1/instances", other, token=join)[0] == 403
        assert b.api("DELETE", f"/v1/tokens/{tid}", token=admin)[0] == 200
        wait_until(lambda: a.api("PUT", f"/v1/instances/{iid}/heartbeat", token=join)[0] == 401,
                   what="the revoked token refused at a")
    finally:
        a.stop()
        b.stop()


def test_a_watch_on_a_frozen_member_is_replaced(tmp_path, etcd3):
    """The member a replica watches freezes (its connections stay open, nothing comes): the
    replica's probe finds changes the watch did not deliver and watches another member, so a
    change made at the other replica still arrives."""
    # a follower: a frozen leader would hold every write up for an election, longer than the
    # store timeout, and a's apply would be refused
    frozen = etcd3.followers()[0]
    first = frozen.endpoint
    others = ",".join(x.endpoint for x in etcd3.members if x is not frozen)
    a = Control(tmp_path, f"{others},{first}", name="control-a").start()
    b = Control(tmp_path, f"{first},{others}", name="control-b").start()
    try:
        assert a.apply(cluster_yaml("c1", "r1"))[0] == 200
        wait_until(lambda: "c1" in b.clusters(), what="c1 at b")
        frozen.proc.freeze()
        try:
            assert a.apply(cluster_yaml("c2", "r2"))[0] == 200
            wait_until(lambda: "c2" in b.clusters(), timeout=30, what="c2 at b, past the frozen member")
            assert "not delivered" in (tmp_path / "control-b.err").read_text()
        finally:
            frozen.proc.thaw()
    finally:
        a.stop()
        b.stop()


def test_authentication_on_a_new_data_directory(tmp_path, etcd1):
    """Without --insecure the control plane makes its admin credential in --data, which the
    etcd store does not create for it."""
    data = tmp_path / "new" / "data"
    data.parent.mkdir()
    port = free_port(HOST)
    p = Proc([BIN, "control", "--listen", f"{HOST}:{port}", "--data", str(data),
              "--store", f"etcd://{etcd1.endpoints}"], tmp_path, "control-new")
    try:
        wait_until(lambda: p.check_alive() and http("GET", f"http://{HOST}:{port}/ready",
                                                     timeout=2)[0] == 200, what="ready")
        admin = (data / "admin.token").read_text().strip()
        status, _, _ = http("GET", f"http://{HOST}:{port}/v1/resources/cluster",
                            headers={"authorization": f"Bearer {admin}"})
        assert status == 200
        assert http("GET", f"http://{HOST}:{port}/v1/resources/cluster")[0] == 401
    finally:
        p.stop()
