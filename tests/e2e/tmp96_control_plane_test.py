"""End-to-end scenarios of the control plane: `crossgate control` with its HTTP/JSON API and the
`apply`, `delete`, `get` and `status` commands, as real processes on 127.0.96.0/24.

Nothing waits with a bare sleep: every wait polls a condition with a deadline. Every process
started is killed, with its process group, when its test ends.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support import BIN, REPO, Proc, free_port, wait_until
from support import http_request as http

EXAMPLES = REPO / "examples"
HOST = "127.0.96.1"

GUIDE = ["cluster-1.yaml", "cluster-2.yaml", "cluster-edge.yaml", "productpage-1.yaml",
         "productpage-2.yaml", "bookinfo-ingress-1.yaml", "bookinfo-ingress-2.yaml",
         "bookinfo-edge.yaml"]


class ControlPlane:
    """One `crossgate control` process with its data directory."""

    def __init__(self, tmp, token=None, extra=()):
        self.tmp = Path(tmp)
        self.data = self.tmp / "data"
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.token = token
        self.extra = list(extra)
        self.p = None
        self.starts = 0

    def start(self):
        argv = [BIN, "control", "--listen", f"{HOST}:{self.port}", "--data", str(self.data), *self.extra]
        if self.token:
            tf = self.tmp / "token"
            tf.write_text(self.token + "\n")
            argv += ["--token-file", str(tf)]
        self.starts += 1
        self.p = Proc(argv, self.tmp, f"control-{self.starts}")
        wait_until(lambda: self.p.alive() and http("GET", self.url + "/ready")[0] == 200,
                   what="control plane ready")
        if not self.token:  # the admin credential it made on first start
            self.token = (self.data / "admin.token").read_text().strip()
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.p and self.p.alive():
            self.p.signal_group(sig)
            self.p.p.wait(timeout=10)
        self.p = None

    def cli(self, *args, token="admin", check=None, cwd=None):
        """token: "admin" (this control plane's admin credential), None (no credential at all:
        not even ~/.config/crossgate/token) or a token string."""
        env = dict(os.environ, CROSSGATE_CONTROL=self.url, HOME=str(self.tmp), XDG_CONFIG_HOME=str(self.tmp / "cfg"))
        env.pop("CROSSGATE_TOKEN", None)
        env.pop("CROSSGATE_TOKEN_FILE", None)
        if token == "admin":
            token = self.token
        if token:
            env["CROSSGATE_TOKEN"] = token
        r = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env, timeout=30,
                           cwd=cwd or REPO)
        if check is not None:
            assert (r.returncode == 0) == check, f"{args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def api(self, method, path, body=None, headers=None, timeout=10, token="admin"):
        h = dict(headers or {})
        if token == "admin":
            token = self.token
        if token and "Authorization" not in h:
            h["Authorization"] = f"Bearer {token}"
        return http(method, self.url + path, body, h, timeout)

    def json(self, method, path, body=None, headers=None):
        st, _, b = self.api(method, path, body, headers)
        assert st == 200, f"{method} {path}: {st} {b!r}"
        return json.loads(b)

    def register(self, cluster, namespace, app, address, admin=None):
        body = {"cluster": cluster, "namespace": namespace, "labels": {"app": app}, "address": address}
        if admin:
            body["admin"] = admin
        return self.json("POST", "/v1/instances", json.dumps(body))["id"]


@pytest.fixture
def cp(tmp_path):
    c = ControlPlane(tmp_path).start()
    yield c
    c.kill()


def apply_guide(cp, files=GUIDE):
    for f in files:
        cp.cli("apply", "-f", EXAMPLES / f, check=True)


# ---------------------------------------------------------------- resources


def test_control_apply_reports_created_unchanged_configured(cp, tmp_path):
    r = cp.cli("apply", "-f", EXAMPLES / "bookinfo-edge.yaml", check=True)
    assert r.stdout == "gateway/bookinfo-edge created\n"
    r = cp.cli("apply", "-f", EXAMPLES / "bookinfo-edge.yaml", check=True)
    assert r.stdout == "gateway/bookinfo-edge unchanged\n"
    # the same content written differently is unchanged; a real edit is configured
    text = (EXAMPLES / "bookinfo-edge.yaml").read_text()
    (tmp_path / "edge.yaml").write_text("# reformatted\n" + text.replace("hostname: bookinfo.tse.tetratelabs.io",
                                                                        "hostname: 'bookinfo.tse.tetratelabs.io'"))
    assert cp.cli("apply", "-f", tmp_path / "edge.yaml", check=True).stdout == "gateway/bookinfo-edge unchanged\n"
    (tmp_path / "edge.yaml").write_text(text.replace("port: 8080", "port: 8081"))
    assert cp.cli("apply", "-f", tmp_path / "edge.yaml", check=True).stdout == "gateway/bookinfo-edge configured\n"
    # a directory: every file, in name order; Services name their namespace and cluster
    d = tmp_path / "dir"
    d.mkdir()
    for f in ["cluster-1.yaml", "productpage-1.yaml"]:
        (d / f).write_text((EXAMPLES / f).read_text())
    r = cp.cli("apply", "-f", d, check=True)
    assert r.stdout.splitlines() == ["cluster/cluster-1 created",
                                     "service/productpage created (namespace bookinfo, cluster cluster-1)"]
    item = cp.json("GET", "/v1/resources/gateway/bookinfo-edge")
    assert item["version"] == 2 and item["kind"] == "Gateway"
    assert cp.json("GET", "/v1/resources/clusters")["revision"] == 4  # one per request that changed something


def test_control_get_outputs_apply_back(cp, tmp_path):
    apply_guide(cp)
    r = cp.cli("get", "gateways", check=True)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "NAMESPACE"]
    assert sorted(l.split()[0] for l in lines[1:]) == ["bookinfo-edge", "bookinfo-ingress-1", "bookinfo-ingress-2"]
    r = cp.cli("get", "cluster", check=True)
    assert any(l.split()[:2] == ["cluster-2", "region-2"] for l in r.stdout.splitlines())
    lst = json.loads(cp.cli("get", "gw", "-o", "json", check=True).stdout)
    assert isinstance(lst, list) and len(lst) == 3
    one = json.loads(cp.cli("get", "Gateway", "bookinfo-edge", "-o", "json", check=True).stdout)
    assert one["kind"] == "Gateway" and one["metadata"]["name"] == "bookinfo-edge"
    assert one["metadata"]["organization"] == "tse"
    svc = json.loads(cp.cli("get", "svc", "productpage", "--cluster", "cluster-2", "-o", "json", check=True).stdout)
    assert svc["metadata"]["cluster"] == "cluster-2"
    # two productpage Services: a name alone is ambiguous
    r = cp.cli("get", "service", "productpage", check=False)
    assert "ambiguous" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # yaml output applies back unchanged, every kind
    for kind in ["gateways", "clusters", "services"]:
        y = cp.cli("get", kind, "-o", "yaml", check=True).stdout
        (tmp_path / f"{kind}.yaml").write_text(y)
        r = cp.cli("apply", "-f", tmp_path / f"{kind}.yaml", check=True)
        assert r.stdout and all(l.split()[1] == "unchanged" for l in r.stdout.splitlines()), r.stdout
    js = cp.cli("get", "gw", "bookinfo-edge", "-o", "json", check=True).stdout
    (tmp_path / "edge.json").write_text(js)
    assert cp.cli("apply", "-f", tmp_path / "edge.json", check=True).stdout == "gateway/bookinfo-edge unchanged\n"
    r = cp.cli("get", "gateway", "nope", check=False)
    assert r.returncode != 0 and "gateway/nope not found" in r.stderr
    r = cp.cli("get", "widgets", check=False)
    assert r.returncode != 0 and "unknown kind" in r.stderr


def test_control_invalid_apply_names_file_position_and_changes_nothing(cp, tmp_path):
    apply_guide(cp, ["cluster-1.yaml", "bookinfo-edge.yaml"])
    before = cp.json("GET", "/v1/resources/gateway")
    bad = tmp_path / "bad-edge.yaml"
    # a valid Cluster first, then a Gateway with an unknown field: all or nothing
    bad.write_text("apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-9}\n"
                   "spec:\n  locality: {region: region-9}\n---\n" +
                   (EXAMPLES / "bookinfo-edge.yaml").read_text().replace("port: 8080", "prot: 8080"))
    r = cp.cli("apply", "-f", bad, check=False)
    assert r.returncode != 0
    assert f"{bad}:" in r.stderr and ": spec.http[0].prot: unknown field" in r.stderr, r.stderr
    static = subprocess.run([BIN, "gateway", "--cluster", "x", "-f", str(bad), "--admin", "off"],
                            capture_output=True, text=True, timeout=10)
    first_error = [l for l in r.stderr.splitlines() if "prot" in l][0]
    assert first_error in static.stderr  # the same message as static mode
    assert cp.json("GET", "/v1/resources/gateway") == before
    assert cp.json("GET", "/v1/resources/cluster")["items"][0]["name"] == "cluster-1"
    assert len(cp.json("GET", "/v1/resources/cluster")["items"]) == 1
    # straight through the API: 400 with the positions in the named file
    st, _, body = cp.api("POST", "/v1/apply", bad.read_text(), {"X-Crossgate-Filename": "mine.yaml"})
    assert st == 400 and b"mine.yaml:" in body and b"prot: unknown field" in body
    # a Gateway mixing destinations and duplicates in one body: rejected by the server
    mixed = (EXAMPLES / "bookinfo-edge.yaml").read_text().replace(
        "clusterDestination: {}",
        "clusterDestination: {}\n          - route:\n              serviceDestination: {host: a/b.c}")
    st, _, body = cp.api("POST", "/v1/apply", mixed, {"X-Crossgate-Filename": "mixed.yaml"})
    assert st == 400 and body.startswith(b"mixed.yaml:"), body
    dup = (EXAMPLES / "cluster-1.yaml").read_text()
    st, _, body = cp.api("POST", "/v1/apply", dup + "---\n" + dup, {"X-Crossgate-Filename": "dup.yaml"})
    assert st == 400 and b"dup.yaml:" in body and b"duplicate Cluster cluster-1" in body
    st, _, body = cp.api("POST", "/v1/apply", "kind: [", {"X-Crossgate-Filename": "syntax.yaml"})
    assert st == 400 and body.startswith(b"syntax.yaml:2:1: flow sequence without a closing bracket")
    assert cp.json("GET", "/v1/resources/gateway") == before
    metrics = cp.api("GET", "/metrics")[2].decode()
    assert 'crossgate_control_apply_requests_total{result="rejected"} 4' in metrics


def test_control_delete_by_file_and_by_name(cp):
    apply_guide(cp, ["cluster-1.yaml", "cluster-2.yaml", "bookinfo-edge.yaml", "productpage-1.yaml"])
    r = cp.cli("delete", "-f", EXAMPLES / "bookinfo-edge.yaml", check=True)
    assert r.stdout == "gateway/bookinfo-edge deleted\n"
    r = cp.cli("delete", "-f", EXAMPLES / "bookinfo-edge.yaml", check=False)
    assert r.returncode != 0 and "gateway/bookinfo-edge not found" in r.stderr
    r = cp.cli("delete", "cluster", "cluster-2", check=True)
    assert r.stdout == "cluster/cluster-2 deleted\n"
    r = cp.cli("delete", "clusters", "cluster-2", check=False)
    assert r.returncode != 0 and "cluster/cluster-2 not found" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cp.cli("delete", "svc", "productpage", "--namespace", "bookinfo", "--cluster", "cluster-1", check=True)
    assert r.stdout.startswith("service/productpage deleted")
    names = [i["name"] for i in cp.json("GET", "/v1/resources/cluster")["items"]]
    assert names == ["cluster-1"]
    assert cp.json("GET", "/v1/resources/gateway")["items"] == []


def test_control_token_file_is_the_admin_credential_and_nothing_answers_without_one(tmp_path):
    c = ControlPlane(tmp_path, token="s3cret-token").start()
    try:
        r = c.cli("apply", "-f", EXAMPLES / "cluster-1.yaml", token=None, check=False)
        assert r.returncode != 0 and "401" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        r = c.cli("apply", "-f", EXAMPLES / "cluster-1.yaml", token="wrong", check=False)
        assert r.returncode != 0
        reg = json.dumps({"cluster": "cluster-1", "address": "127.0.96.20"})
        # without a credential nothing but /ready answers: not reads, not metrics
        for method, path, body in [("GET", "/v1/resources/cluster", None), ("GET", "/v1/status", None),
                                   ("GET", "/v1/instances", None), ("GET", "/metrics", None),
                                   ("POST", "/v1/instances", reg), ("POST", "/v1/apply", "x"),
                                   ("GET", "/v1/tokens", None), ("GET", "/v1/instances/x/snapshot", None)]:
            st, hdrs, _ = c.api(method, path, body, token=None)
            assert st == 401, (method, path, st)
            assert hdrs.get("www-authenticate") == "Bearer"
            assert c.api(method, path, body, token="nope")[0] == 401
        assert http("GET", c.url + "/ready")[0] == 200
        r = c.cli("apply", "-f", EXAMPLES / "cluster-1.yaml", token="s3cret-token", check=True)
        assert r.stdout == "cluster/cluster-1 created\n"
        assert c.cli("get", "clusters", check=True).stdout.count("cluster-1") == 1
        assert c.cli("get", "clusters", token=None, check=False).returncode != 0
        st, _, b = c.api("POST", "/v1/instances", reg)
        assert st == 200
        iid = json.loads(b)["id"]
        assert c.api("PUT", f"/v1/instances/{iid}/heartbeat", b"", token=None)[0] == 401
        assert c.api("DELETE", f"/v1/instances/{iid}", token=None)[0] == 401
        assert c.api("PUT", f"/v1/instances/{iid}/heartbeat", b"")[0] == 200
        assert "crossgate_control_unauthorized_total" in c.api("GET", "/metrics")[2].decode()
        assert not (c.data / "admin.token").exists()  # --token-file given: none made
    finally:
        c.kill()


def test_control_first_start_makes_an_admin_credential_mode_0600_and_keeps_it(tmp_path):
    c = ControlPlane(tmp_path).start()
    try:
        f = c.data / "admin.token"
        assert f.stat().st_mode & 0o777 == 0o600
        assert "admin.token" in c.p.stderr()
        first = f.read_text()
        c.kill()
        c.start()
        assert f.read_text() == first  # the same credential across restarts
        assert c.cli("apply", "-f", EXAMPLES / "cluster-1.yaml", check=True).returncode == 0
        # the CLI also finds it in the per-user config file
        cfg = c.tmp / "cfg" / "crossgate"
        cfg.mkdir(parents=True)
        (cfg / "token").write_text(first)
        assert c.cli("get", "clusters", token=None, check=True).stdout.count("cluster-1") == 1
    finally:
        c.kill()


def test_control_insecure_is_explicit_and_warned(tmp_path):
    c = ControlPlane(tmp_path, extra=["--insecure"])
    c.token = "unused"
    c.start()
    try:
        assert c.cli("apply", "-f", EXAMPLES / "cluster-1.yaml", token=None, check=True).returncode == 0
        assert "--insecure" in c.p.stderr() and "[warn]" in c.p.stderr()
    finally:
        c.kill()


def reader_and_join_tokens(c):
    reader = c.cli("token", "create", "--role", "reader", check=True).stdout.strip()
    join1 = c.cli("token", "create", "--cluster", "cluster-1", check=True).stdout.strip()
    join2 = c.cli("token", "create", "--cluster", "cluster-2", check=True).stdout.strip()
    return reader, join1, join2


def register_from(c, token, cluster, address, source=None, app="x"):
    """POST /v1/instances from source (default: address itself, as a gateway binds it)."""
    body = json.dumps({"cluster": cluster, "namespace": "bookinfo", "labels": {"app": app}, "address": address})
    with socket.create_connection((HOST, c.port), timeout=5, source_address=(source or address, 0)) as s:
        s.sendall(f"POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


def test_control_reader_token_reads_but_cannot_apply(cp):
    apply_guide(cp, ["cluster-1.yaml"])
    reader, _, _ = reader_and_join_tokens(cp)
    assert cp.cli("get", "clusters", token=reader, check=True).stdout.count("cluster-1") == 1
    assert cp.cli("status", token=reader, check=True).returncode == 0
    r = cp.cli("apply", "-f", EXAMPLES / "cluster-2.yaml", token=reader, check=False)
    assert r.returncode != 0 and "403" in r.stderr
    assert cp.cli("delete", "cluster", "cluster-1", token=reader, check=False).returncode != 0
    assert cp.cli("token", "create", "--role", "reader", token=reader, check=False).returncode != 0
    assert cp.api("POST", "/v1/instances", json.dumps({"cluster": "cluster-1", "address": "127.0.96.9"}),
                  token=reader)[0] == 403
    assert len(cp.json("GET", "/v1/resources/cluster")["items"]) == 1  # nothing changed


def test_control_join_token_is_scoped_to_its_cluster_and_its_own_instances(cp):
    apply_guide(cp)
    _, join1, join2 = reader_and_join_tokens(cp)
    st, b = register_from(cp, join1, "cluster-1", "127.0.96.41")
    assert st == 200, b
    id1 = json.loads(b)["id"]
    st, b = register_from(cp, join2, "cluster-2", "127.0.96.42")
    assert st == 200, b
    id2 = json.loads(b)["id"]
    # a cluster-1 token cannot register as cluster-2
    st, b = register_from(cp, join1, "cluster-2", "127.0.96.43")
    assert st == 403 and b"cluster-1" in b and b"cluster-2" in b, b
    # nor act on cluster-2's instance: delete, heartbeat, read its snapshot
    for method, path in [("DELETE", f"/v1/instances/{id2}"), ("PUT", f"/v1/instances/{id2}/heartbeat"),
                         ("GET", f"/v1/instances/{id2}/snapshot?timeout_ms=0")]:
        assert cp.api(method, path, b"" if method == "PUT" else None, token=join1)[0] == 403, (method, path)
    # nor read, apply, or list tokens
    assert cp.api("GET", "/v1/status", token=join1)[0] == 403
    assert cp.api("POST", "/v1/apply", "x", token=join1)[0] == 403
    # its own instance it may watch, heartbeat and deregister
    assert cp.api("GET", f"/v1/instances/{id1}/snapshot?after=0&timeout_ms=5000", token=join1)[0] == 200
    assert cp.api("PUT", f"/v1/instances/{id1}/heartbeat", b"", token=join1)[0] == 200
    assert cp.api("DELETE", f"/v1/instances/{id1}", token=join1)[0] == 200
    ids = {i["id"] for i in cp.json("GET", "/v1/status")["instances"]}
    assert id2 in ids and id1 not in ids


def test_control_advertised_address_other_than_the_peer_is_refused(cp):
    apply_guide(cp)
    _, join1, _ = reader_and_join_tokens(cp)
    st, b = register_from(cp, join1, "cluster-1", "10.9.9.9", source="127.0.96.44")
    assert st == 403, b
    assert b"10.9.9.9" in b and b"127.0.96.44" in b  # one clear line naming both
    assert cp.json("GET", "/v1/status")["instances"] == []
    # a token may allow others (NAT, load balancers)
    nat = cp.cli("token", "create", "--cluster", "cluster-1", "--allow-address", "10.9.0.0/16",
                 check=True).stdout.strip()
    st, b = register_from(cp, nat, "cluster-1", "10.9.9.9", source="127.0.96.44")
    assert st == 200, b


def test_control_revoked_join_token_drops_its_instances_within_a_lease(cp):
    apply_guide(cp)
    _, join1, _ = reader_and_join_tokens(cp)
    st, b = register_from(cp, join1, "cluster-1", "127.0.96.45")
    iid = json.loads(b)["id"]
    tid = join1.split("_")[1]
    assert "revoked" in cp.cli("token", "revoke", tid, check=True).stderr
    assert cp.api("PUT", f"/v1/instances/{iid}/heartbeat", b"", token=join1)[0] == 401
    wait_until(lambda: iid not in {i["id"] for i in cp.json("GET", "/v1/status")["instances"]}, timeout=8,
               what="the revoked token's instance to leave")
    listed = json.loads(cp.cli("token", "list", check=True).stdout)["tokens"]
    assert tid not in {t["id"] for t in listed} and all("digest" not in t and "token" not in t for t in listed)


def test_control_body_limit_and_malformed_registration(tmp_path):
    c = ControlPlane(tmp_path, extra=["--max-body", "4096"]).start()
    try:
        big = "# " + "x" * 8000 + "\n" + (EXAMPLES / "cluster-1.yaml").read_text()
        with socket.create_connection((HOST, c.port), timeout=5) as s:
            s.sendall(f"POST /v1/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {c.token}\r\nContent-Length: {len(big)}\r\n\r\n".encode())
            resp = s.recv(4096)
        assert resp.startswith(b"HTTP/1.1 413"), resp
        # a Content-Length of 2^63 once turned negative and skipped the 413 check
        with socket.create_connection((HOST, c.port), timeout=5) as s:
            s.sendall(b"POST /v1/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + c.token.encode() +
                      b"\r\nContent-Length: 9223372036854775808\r\n\r\n" +
                      big.encode()[:1000])
            resp = s.recv(4096)
        assert resp.startswith(b"HTTP/1.1 400") or resp.startswith(b"HTTP/1.1 413"), resp
        assert json.loads(c.api("GET", "/v1/resources/cluster")[2])["items"] == []
        for body, word in [("{", "malformed JSON"), ("[]", "expected one JSON object"),
                           ('{"cluster":"c"}', "address: missing"),
                           ('{"cluster":"c","address":"nowhere"}', "address: expected an IP"),
                           ('{"cluster":"c","address":"127.0.96.9","labels":{"a":1}}', "labels"),
                           ('{"cluster":"c","address":"127.0.96.9","extra":1}', "unknown field")]:
            st, _, b = c.api("POST", "/v1/instances", body)
            assert st == 400 and word.encode() in b, (body, st, b)
        assert json.loads(c.api("GET", "/v1/status")[2])["instances"] == []
        assert c.api("PUT", "/v1/instances/feedface/heartbeat")[0] == 404
        assert c.api("GET", "/v1/instances/feedface/snapshot")[0] == 404
        assert c.api("GET", "/v1/nothing")[0] == 404
        assert c.api("GET", "/v1/apply")[0] == 405
    finally:
        c.kill()


# ---------------------------------------------------------------- instances and snapshots


def test_control_long_poll_returns_new_version_on_apply(cp):
    apply_guide(cp)
    edge = cp.register("cluster-edge", "edge", "edgegw", "127.0.96.10", admin="127.0.96.10:15000")
    ing = cp.register("cluster-1", "bookinfo", "ingressgw-1", "127.0.96.11")
    st, h, b = cp.api("GET", f"/v1/instances/{edge}/snapshot?after=0")
    assert st == 200
    snap = json.loads(b)
    v = snap["version"]
    assert h.get("x-crossgate-version") == str(v)
    dest = snap["destinations"][0]
    assert dest["mode"] == "auto"
    assert {(e["address"], e["priority"]) for e in dest["endpoints"]} >= {("127.0.96.11", 0), ("127.0.2.1", 1)}
    ing_v = json.loads(cp.api("GET", f"/v1/instances/{ing}/snapshot?after=0")[2])["version"]
    # nothing new: a short poll ends with 304
    t0 = time.monotonic()
    st, _, b = cp.api("GET", f"/v1/instances/{edge}/snapshot?after={v}&timeout_ms=300")
    assert st == 304 and b == b"" and time.monotonic() - t0 >= 0.25
    # a parked poll returns as soon as the edge's snapshot changes
    got = {}

    def poll():
        t = time.monotonic()
        got["r"] = cp.api("GET", f"/v1/instances/{edge}/snapshot?after={v}&timeout_ms=20000", timeout=30)
        got["t"] = time.monotonic() - t

    th = threading.Thread(target=poll)
    th.start()
    wait_until(lambda: "crossgate_control_watches_active 1" in cp.api("GET", "/metrics")[2].decode(),
               what="the poll to park")
    t_apply = time.monotonic()
    cp.cli("apply", "-f", EXAMPLES / "edge-weighted.yaml", check=True)
    th.join(timeout=15)
    assert not th.is_alive()
    st, _, b = got["r"]
    assert st == 200
    new = json.loads(b)
    assert new["version"] > v and new["destinations"][0]["mode"] == "weighted"
    assert time.monotonic() - t_apply < 3
    # the ingress's snapshot did not change: same version, a poll on it does not wake
    assert cp.api("GET", f"/v1/instances/{ing}/snapshot?after={ing_v}&timeout_ms=0")[0] == 304
    # deregistration: the instance leaves every snapshot
    assert cp.api("DELETE", f"/v1/instances/{ing}")[0] == 200
    st, _, b = cp.api("GET", f"/v1/instances/{edge}/snapshot?after={new['version']}&timeout_ms=5000")
    assert st == 200 and b"127.0.96.11" not in b
    assert cp.api("GET", f"/v1/instances/{ing}/snapshot?after=0")[0] == 404


def test_control_lease_expires_without_heartbeats(cp):
    apply_guide(cp)
    edge = cp.register("cluster-edge", "edge", "edgegw", "127.0.96.10")
    ing = cp.register("cluster-2", "bookinfo", "ingressgw-2", "127.0.96.12")
    v = json.loads(cp.api("GET", f"/v1/instances/{edge}/snapshot?after=0")[2])
    assert any(e["address"] == "127.0.96.12" for e in v["destinations"][0]["endpoints"])
    # the edge keeps its lease by heartbeat; the ingress goes silent
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            cp.api("PUT", f"/v1/instances/{edge}/heartbeat", b"")
            stop.wait(0.5)

    th = threading.Thread(target=beat)
    th.start()
    try:
        t0 = time.monotonic()

        def gone():
            ids = [i["id"] for i in cp.json("GET", "/v1/status")["instances"]]
            return ing not in ids and edge in ids

        wait_until(gone, timeout=8, what="the silent instance's lease to expire")
        assert 2.5 < time.monotonic() - t0 < 6
        # instance churn is recomputed in batches (20 ms): long-poll for the new version
        st, _, b = cp.api("GET", f"/v1/instances/{edge}/snapshot?after={v['version']}&timeout_ms=5000")
        assert st == 200 and b"127.0.96.12" not in b
        assert cp.api("PUT", f"/v1/instances/{ing}/heartbeat", b"")[0] == 404
        assert "crossgate_control_leases_expired_total 1" in cp.api("GET", "/metrics")[2].decode()
    finally:
        stop.set()
        th.join()


def test_control_status_shows_clusters_instances_and_routing(cp):
    apply_guide(cp)
    cp.register("cluster-edge", "edge", "edgegw", "127.0.96.10", admin="127.0.96.10:15000")
    cp.register("cluster-1", "bookinfo", "ingressgw-1", "127.0.96.11")
    r = cp.cli("status", check=True)
    out = r.stdout
    assert "CLUSTERS" in out and "INSTANCES" in out and "ROUTING" in out
    assert any(l.split()[:2] == ["cluster-2", "region-2"] for l in out.splitlines())
    assert "127.0.96.10:15000" in out and "app=ingressgw-1" in out
    assert "bookinfo.tse.tetratelabs.io:8080" in out
    assert "auto: every cluster with a live gateway" in out
    assert "0 (local region)" in out and "remote: failover" in out
    st = json.loads(cp.cli("status", "-o", "json", check=True).stdout)
    assert st["clusters"][0]["region"] == "region-1"
    e = st["edges"][0]
    assert e["routes"][0]["hostname"] == "bookinfo.tse.tetratelabs.io"
    assert {x["cluster"] for x in e["destinations"][0]["endpoints"]} == {"cluster-1", "cluster-2"}
    cp.cli("apply", "-f", EXAMPLES / "edge-named.yaml", check=True)
    st = json.loads(cp.cli("status", "-o", "json", check=True).stdout)
    assert st["edges"][0]["destinations"][0]["mode"] == "named"



def test_control_status_shows_the_failover_order_of_three_regions(cp, tmp_path):
    """failoverSettings.regionalFailover region-1 -> region-3: the edge's status lists
    cluster-3 at priority 1 and cluster-2 after it, at 2."""
    apply_guide(cp)
    edge = (EXAMPLES / "bookinfo-edge.yaml").read_text()
    edge += "      failoverSettings:\n        regionalFailover: [{from: region-1, to: region-3}]\n"
    ingress3 = (EXAMPLES / "bookinfo-ingress-2.yaml").read_text().replace("-2", "-3")
    cluster3 = ("apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-3}\n"
                "spec:\n  locality: {region: region-3}\n"
                "  gateways: [{address: 127.0.3.1, namespace: bookinfo, labels: {app: ingressgw-3}}]\n")
    f = tmp_path / "three-regions.yaml"
    f.write_text("---\n".join([cluster3, ingress3, edge]))
    cp.cli("apply", "-f", f, check=True)
    cp.register("cluster-edge", "edge", "edgegw", "127.0.96.10", admin="127.0.96.10:15000")
    out = cp.cli("status", check=True).stdout
    rows = {l.split()[0]: l.split(None, 2)[2] for l in out.splitlines()
            if l.split()[:1] in (["cluster-1"], ["cluster-2"], ["cluster-3"]) and "(" in l}
    assert rows["cluster-1"].startswith("0 (local region)"), out
    assert rows["cluster-3"].startswith("1 (remote: failover)"), out
    assert rows["cluster-2"].startswith("2 (remote: failover)"), out
    dest = json.loads(cp.cli("status", "-o", "json", check=True).stdout)["edges"][0]["destinations"][0]
    assert sorted({(e["cluster"], e["priority"]) for e in dest["endpoints"]}) == [
        ("cluster-1", 0), ("cluster-2", 2), ("cluster-3", 1)]


# ---------------------------------------------------------------- durability and concurrency


def cluster_doc(name, region="region-1"):
    return f"apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {{name: {name}}}\nspec:\n  locality: {{region: {region}}}\n"


def test_control_acknowledged_applies_survive_kill_9(cp):
    acked = []
    stop = threading.Event()
    errors = []

    def stream():
        i = 0
        while not stop.is_set():
            name = f"durable-{i}"
            try:
                st, _, b = cp.api("POST", "/v1/apply", cluster_doc(name), {"X-Crossgate-Filename": name + ".yaml"},
                                  timeout=5)
            except Exception:
                return  # the process is gone: what was not acknowledged may be lost
            if st == 200:
                acked.append(name)
            else:
                errors.append((st, b))
            i += 1

    th = threading.Thread(target=stream)
    th.start()
    wait_until(lambda: len(acked) >= 30, what="a stream of applies", timeout=20)
    cp.kill(signal.SIGKILL)
    stop.set()
    th.join(timeout=10)
    assert not errors
    cp.start()
    names = {i["name"] for i in cp.json("GET", "/v1/resources/cluster")["items"]}
    missing = [n for n in acked if n not in names]
    assert not missing, f"{len(missing)} acknowledged applies lost: {missing[:5]}"
    assert cp.json("GET", "/v1/resources/cluster")["revision"] >= len(acked)


def test_control_concurrent_clients_keep_state_consistent(cp, tmp_path):
    per = 8
    failures = []

    def client(k):
        for i in range(per):
            f = tmp_path / f"c{k}-{i}.yaml"
            # every client also rewrites one shared resource
            f.write_text(cluster_doc(f"c{k}-{i}") + "---\n" + cluster_doc("shared", f"region-{k}"))
            r = cp.cli("apply", "-f", f)
            if r.returncode != 0:
                failures.append(r.stderr)

    ths = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(timeout=60)
    assert not failures, failures[:3]
    lst = cp.json("GET", "/v1/resources/cluster")
    names = sorted(i["name"] for i in lst["items"])
    assert names == sorted([f"c{k}-{i}" for k in range(4) for i in range(per)] + ["shared"])
    assert max(i["version"] for i in lst["items"]) == lst["revision"]
    shared = cp.json("GET", "/v1/resources/cluster/shared")
    assert shared["resource"]["spec"]["locality"]["region"] in {f"region-{k}" for k in range(4)}
    # after a restart the same state
    cp.kill(signal.SIGTERM)
    cp.start()
    again = cp.json("GET", "/v1/resources/cluster")
    assert again == lst


# ---------------------------------------------------------------- bounded resources


def metric(c, name):
    for line in c.api("GET", "/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no metric {name}")


def test_control_slowloris_connections_are_closed_by_the_deadline_and_apply_stays_fast(tmp_path):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    c = ControlPlane(tmp_path, extra=["--request-timeout", "2s", "--max-connections", "1024"]).start()
    slow = []
    try:
        for i in range(2000):
            s = socket.create_connection((HOST, c.port), timeout=5)
            s.sendall(b"POST /v1/apply HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            slow.append(s)
        # a normal client still gets its apply through at once
        t0 = time.monotonic()
        r = c.cli("apply", "-f", EXAMPLES / "cluster-1.yaml", check=True)
        took = time.monotonic() - t0
        assert "created" in r.stdout
        print(f"\napply with 2000 slowloris connections open: {took * 1000:.0f} ms")
        # every slow connection is closed: evicted to make room, or at its 2 s deadline
        def all_closed():
            for s in slow:
                s.setblocking(False)
                try:
                    if s.recv(1) != b"":
                        return False
                except BlockingIOError:
                    return False
                except OSError:
                    pass
            return True
        wait_until(all_closed, timeout=10, what="every slowloris connection closed")
        evicted = metric(c, "crossgate_control_connections_evicted_total")
        timed_out = metric(c, "crossgate_control_requests_timed_out_total")
        assert evicted + timed_out >= 2000, (evicted, timed_out)
    finally:
        for s in slow:
            s.close()
        c.kill()


def test_control_burst_of_1000_registrations_costs_a_bounded_number_of_recomputes(cp):
    apply_guide(cp)
    before = metric(cp, "crossgate_control_recomputes_total")
    bodies = [json.dumps({"cluster": "cluster-1", "namespace": "bookinfo", "labels": {"app": "ingressgw-1"},
                          "address": f"127.0.{32 + i // 250}.{i % 250 + 1}"}).encode() for i in range(1000)]

    def register_many(chunk):
        # keep-alive: one connection, pipelined registrations, as a fleet restarting at once
        with socket.create_connection((HOST, cp.port), timeout=10) as s:
            auth = f"Authorization: Bearer {cp.token}\r\n".encode()
            out = b"".join(b"POST /v1/instances HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s"
                           % (auth, len(b), b) for b in chunk)
            s.sendall(out)
            got = b""
            while got.count(b"HTTP/1.1 200") < len(chunk):
                d = s.recv(65536)
                assert d, "connection closed"
                got += d

    threads = [threading.Thread(target=register_many, args=(bodies[i::10],)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cp.json("GET", "/v1/status")["instances"]) == 1000
    recomputes = metric(cp, "crossgate_control_recomputes_total") - before
    print(f"\n1000 registrations: {recomputes} recomputes")
    assert recomputes <= 100, recomputes


def test_control_node_budget_holds_per_request_not_per_document(cp):
    # 250 documents of 1,000 nodes each: every document is small, the request is not
    doc = "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: c}\nspec:\n  x:\n" + "  - a\n" * 1000
    body = "---\n".join([doc] * 250)
    st, _, b = cp.api("POST", "/v1/apply", body, {"X-Crossgate-Filename": "big.yaml"})
    assert st == 400 and b"too many nodes" in b, (st, b[:300])
    assert cp.json("GET", "/v1/resources/cluster")["items"] == []

