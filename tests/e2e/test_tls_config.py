"""Listener TLS configuration (Tetrate ServerTLSSettings): bad material refuses a static config
at start-up and at reload with file:line:col at the field, and the running config is kept; a
Secret goes through the control plane and never comes back with its private key.

Certificates and keys are made at run time with the openssl CLI; none is committed. Addresses:
127.0.71.0/24. Nothing waits with a bare sleep.
"""

import json
import re
import subprocess

import pytest

from conftest import direct, free_port, gateway_doc, http_get, server, uri, wait_until, yaml_docs
from support import expired_cert
from test_config import run_gateway_once
import dynamic_env
import test_control_plane

NET = "127.0.71"


def make_cert(d, name, days=30):
    """A self-signed P-256 certificate and its key, as files in d; returns their paths."""
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", f"/CN={name}.example", "-days", str(days),
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return cert, key


def make_expired_cert(d, name):
    """A self-signed certificate valid only in January 2020."""
    return expired_cert(d, d / f"{name}.key", d / f"{name}.crt", f"{name}.example")


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    good = make_cert(d, "web")
    other = make_cert(d, "other")
    junk = d / "junk.pem"
    junk.write_text("this is not PEM\n")
    return {"cert": good[0], "key": good[1], "other_key": other[1], "other_cert": other[0],
            "junk": junk}


# The Gateway's text, with tls as a flow mapping on line 11 (the lines are counted below).
def tls_gateway(tls, port=8443):
    return ("apiVersion: crossgate/v1\n"                                   # 1
            "kind: Gateway\n"                                              # 2
            "metadata: {name: web}\n"                                      # 3
            "spec:\n"                                                      # 4
            "  workloadSelector:\n"                                        # 5
            "    namespace: bookinfo\n"                                    # 6
            "    labels: {app: ingressgw-1}\n"                             # 7
            "  http:\n"                                                    # 8
            "  - name: web\n"                                              # 9
            f"    port: {port}\n"                                          # 10
            f"    tls: {tls}\n"                                            # 11
            "    hostname: web.example\n"
            "    routing: {rules: [{directResponse: {status: 200}}]}\n")


def files_tls(cert, key, mode="SIMPLE", extra=""):
    return f"{{mode: {mode}, files: {{serverCertificate: {cert}, privateKey: {key}}}{extra}}}"


def bad_cases(pki):
    missing = pki["cert"].parent / "missing.crt"
    return {
        "missing-file": (files_tls(missing, pki["key"]), "serverCertificate",
                         f"cannot open {missing}: No such file or directory"),
        "not-pem": (files_tls(pki["junk"], pki["key"]), "serverCertificate", "not a PEM certificate"),
        "key-not-pem": (files_tls(pki["cert"], pki["junk"]), "privateKey", "not a PEM private key"),
        "key-mismatch": (files_tls(pki["cert"], pki["other_key"]), "privateKey",
                         "does not match the certificate"),
        "mutual-without-ca": (files_tls(pki["cert"], pki["key"], mode="MUTUAL"), "caCertificates",
                              "missing required field (mode MUTUAL)"),
        "min-above-max": (files_tls(pki["cert"], pki["key"],
                                    extra=", minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2"),
                          "minProtocolVersion", "TLSV1_3 is above maxProtocolVersion TLSV1_2"),
        "unknown-version": (files_tls(pki["cert"], pki["key"], extra=", minProtocolVersion: SSLV3"),
                            "minProtocolVersion", "expected one of TLS_AUTO"),
        "secret-and-files": ("{mode: SIMPLE, secretName: web, files: {serverCertificate: /a, privateKey: /b}}",
                             None, "needs exactly one of secretName, files"),
    }


CASES = ["missing-file", "not-pem", "key-not-pem", "key-mismatch", "mutual-without-ca",
         "min-above-max", "unknown-version", "secret-and-files"]


@pytest.mark.parametrize("case", CASES)
def test_bad_tls_at_startup_exits_naming_file_line_column_and_field(tmp_path, pki, case):
    tls, field, msg = bad_cases(pki)[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(tls_gateway(tls))
    p = run_gateway_once(path, f"{NET}.2")
    assert p.returncode != 0, p.stderr
    first = p.stderr.splitlines()[0]
    m = re.match(rf"^{re.escape(str(path))}:(\d+):(\d+): spec\.http\[0\]\.tls(\S*): (.*)$", first)
    assert m, f"not file:line:col: spec.http[0].tls...: {first!r}"
    assert int(m.group(1)) == 11, first
    if field:
        assert m.group(3).endswith("." + field), first
    assert msg in m.group(4), first
    assert "Segmentation" not in p.stderr


def test_same_port_tls_and_plain_text_is_refused(tmp_path, pki):
    text = tls_gateway(files_tls(pki["cert"], pki["key"]), port=8080) + (
        "  - name: plain\n    port: 8080\n    hostname: other.example\n"
        "    routing: {rules: [{directResponse: {status: 200}}]}\n")
    path = tmp_path / "mixed.yaml"
    path.write_text(text)
    p = run_gateway_once(path, f"{NET}.2")
    assert p.returncode != 0
    assert re.match(rf"^{re.escape(str(path))}:15:11: spec\.http\[1\]\.port: port 8080 is served with TLS "
                    r"by http\[0\]: a port is either TLS or plain text$", p.stderr.splitlines()[0]), p.stderr


def test_bad_tls_at_reload_is_rejected_and_the_running_config_kept(procs, pki):
    addr = f"{NET}.1"
    port = free_port(addr)
    v1 = yaml_docs(gateway_doc([server("web", port, "*", [direct(200, "v1\n", match=[uri("exact", "/v")])])]))
    gw = procs.gateway(addr, {"gw.yaml": v1}, wait_ports=(port,))
    assert http_get(addr, port, "/v").body == b"v1\n"
    version = gw.config_version()
    for case in ["key-mismatch", "missing-file"]:
        before = gw.metrics().get("crossgate_config_reloads_total", result="rejected")
        tls, field, msg = bad_cases(pki)[case]
        gw.rewrite("gw.yaml", tls_gateway(tls, port=free_port(addr)))
        wait_until(lambda: gw.metrics().get("crossgate_config_reloads_total", result="rejected") > before,
                   what=f"the reload with {case} to be rejected")
        gw.wait_log(rf"gw\.yaml:11:\d+: spec\.http\[0\]\.tls\.files\.{field}: .*{re.escape(msg)}")
        assert http_get(addr, port, "/v").body == b"v1\n"
        assert gw.config_version() == version


def test_expired_certificate_is_accepted_with_a_warning_naming_the_date(procs, tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    cert, key = make_expired_cert(d, "old")
    addr = f"{NET}.4"
    port = free_port(addr)
    gw = procs.gateway(addr, {"gw.yaml": tls_gateway(files_tls(cert, key), port=port)})
    gw.wait_log(rf"gw\.yaml:11:\d+: spec\.http\[0\]\.tls\.files\.serverCertificate: {re.escape(str(cert))}: "
                r"certificate expired on 2020-02-01T00:00:00Z")
    assert "PRIVATE KEY" not in gw.log()
    dump = gw.config_dump()
    text = json.dumps(dump)
    assert str(cert) in text and "PRIVATE KEY" not in text


def indent(text, n):
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def test_static_secret_is_resolved_and_config_dump_redacts_its_key(procs, pki):
    addr = f"{NET}.5"
    port, port2 = free_port(addr), free_port(addr)
    cert, key = pki["cert"].read_text(), pki["key"].read_text()
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: web}\nstringData:\n"
              f"  cert: |\n{indent(cert, 4)}  key: |\n{indent(key, 4)}")
    gws = (tls_gateway("{mode: SIMPLE, secretName: web}", port=port) + "---\n" +
           tls_gateway("{mode: SIMPLE, secretName: nowhere}", port=port2).replace("name: web}", "name: other}"))
    gw = procs.gateway(addr, {"secret.yaml": secret, "gw.yaml": gws})
    gw.wait_log(r"Gateway other http\[0\] \(web\): Secret nowhere does not exist: the server is not served")
    dump = gw.config_dump()
    text = json.dumps(dump)
    assert "<redacted>" in text and cert.splitlines()[1] in text, text[:2000]
    assert key.splitlines()[1] not in text and "PRIVATE KEY" not in text
    assert key.splitlines()[1] not in gw.log() and "PRIVATE KEY" not in gw.log()
    servers = dump["snapshot"]["servers"]
    assert [s["port"] for s in servers] == [port]  # the server without its Secret is left out
    assert servers[0]["tls"]["key_pem"] == "<redacted>" and servers[0]["tls"]["secret"] == "web"


def test_secret_through_the_control_plane_is_never_returned_with_its_key(tmp_path, pki, monkeypatch):
    monkeypatch.setattr(test_control_plane, "HOST", f"{NET}.3")  # this module's address block
    c = test_control_plane.ControlPlane(tmp_path)
    try:
        c.start()
        cert, key = pki["cert"].read_text(), pki["key"].read_text()
        secret = tmp_path / "secret.yaml"
        # as kubectl get -o yaml exports it: an annotation holding the whole Secret, key included
        last = json.dumps({"apiVersion": "v1", "kind": "Secret", "stringData": {"tls.crt": cert, "tls.key": key}})
        secret.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: bookinfo\n"
                          "  annotations:\n"
                          f"    kubectl.kubernetes.io/last-applied-configuration: {json.dumps(last)}\n"
                          "type: kubernetes.io/tls\nstringData:\n"
                          f"  tls.crt: |\n{indent(cert, 4)}  tls.key: |\n{indent(key, 4)}")
        r = c.cli("apply", "-f", secret, check=True)
        assert r.stdout == "secret/web created (namespace bookinfo)\n", r.stdout
        assert c.cli("apply", "-f", secret, check=True).stdout.split()[1] == "unchanged"

        body = key.splitlines()[1]  # a line of the key's base64 body
        one = json.loads(c.cli("get", "secret", "web", "-o", "json", check=True).stdout)
        assert one["stringData"]["tls.key"] == "<redacted>"
        assert one["stringData"]["tls.crt"] == cert
        assert one["metadata"]["annotations"] == {
            "kubectl.kubernetes.io/last-applied-configuration": "<redacted>"}
        reader = c.cli("token", "create", "--role", "reader", check=True).stdout.strip()
        for out in [c.cli("get", "secrets", "-o", "json", check=True).stdout,
                    c.cli("get", "secret", "web", "-o", "yaml", token=reader, check=True).stdout,
                    c.api("GET", "/v1/resources/secret", token=reader)[2].decode(),
                    c.cli("get", "secret", "web", "-o", "yaml", check=True).stdout,
                    c.cli("get", "secrets", check=True).stdout,
                    c.api("GET", "/v1/resources/secret")[2].decode(),
                    c.api("GET", "/v1/resources/secret/web?namespace=bookinfo")[2].decode()]:
            assert body not in out and "PRIVATE KEY" not in out, out
        assert "PRIVATE KEY" not in c.p.stderr() + c.p.stdout()

        # a Secret whose key does not match its certificate is refused at its key
        bad = tmp_path / "bad.yaml"
        bad.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\nstringData:\n"
                       f"  cert: |\n{indent(cert, 4)}  key: |\n{indent(pki['other_key'].read_text(), 4)}")
        r = c.cli("apply", "-f", bad, check=False)
        assert r.returncode != 0
        assert re.search(r"bad\.yaml:\d+:3: stringData\.key: does not match the certificate", r.stderr), r.stderr
        assert "PRIVATE KEY" not in r.stderr
    finally:
        c.kill()


def test_dynamic_secret_reaches_only_its_instances_and_the_cache_is_owner_only(procs, tmp_path, pki):
    cp = dynamic_env.ControlPlane(procs, f"{NET}.10", tmp_path / "data").start()
    hosts = {1: f"{NET}.11", 2: f"{NET}.12"}
    port = dynamic_env.free_port_on(list(hosts.values()))
    cert, key = pki["cert"].read_text(), pki["key"].read_text()
    res = tmp_path / "res"
    res.mkdir()
    (res / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: web, namespace: bookinfo}\nstringData:\n"
        f"  cert: |\n{indent(cert, 4)}  key: |\n{indent(key, 4)}")
    for k in (1, 2):
        tls = "{mode: SIMPLE, secretName: web}" if k == 1 else "{mode: DISABLED}"
        (res / f"gw-{k}.yaml").write_text(
            tls_gateway(tls, port=port).replace("name: web}", f"name: gw-{k}, namespace: bookinfo}}")
            .replace("app: ingressgw-1", f"app: ingressgw-{k}")
            .replace("    namespace: bookinfo\n", f"    cluster: cluster-{k}\n    namespace: bookinfo\n"))
    r = cp.apply(res / "secret.yaml", res / "gw-1.yaml", res / "gw-2.yaml")
    assert r.returncode == 0, r.stderr
    cache = tmp_path / "cache"
    gws = {k: dynamic_env.Gateway(procs, f"ingress-{k}", f"cluster-{k}", "bookinfo", f"app=ingressgw-{k}",
                                  hosts[k], cp.url, cache_dir=cache if k == 1 else None,
                                  token_file=cp.join_token(f"cluster-{k}")).start() for k in (1, 2)}

    def servers(k):
        try:
            return gws[k].config_dump()["snapshot"]["servers"]
        except Exception:
            return None
    for k in (1, 2):
        wait_until(lambda: servers(k), what=f"ingress-{k} to take a snapshot with its server")
    s1, s2 = servers(1), servers(2)
    assert s1[0]["tls"]["key_pem"] == "<redacted>" and s1[0]["tls"]["cert_pem"] == cert
    assert "tls" not in s2[0]
    dump2 = json.dumps(gws[2].config_dump())
    assert cert.splitlines()[1] not in dump2  # the Secret is not delivered where it is not named

    wait_until(lambda: list(cache.glob("snapshot-*.json")), what="the snapshot cache file")
    (f,) = cache.glob("snapshot-*.json")
    assert f.stat().st_mode & 0o777 == 0o600
    assert key.splitlines()[1] in f.read_text()  # the gateway needs the key: the file is its own
    for g in gws.values():
        assert "PRIVATE KEY" not in g.log()


def register_as(c, token, cluster, app, address):
    """Registers an instance of namespace bookinfo with label app from address; its id."""
    st, b = test_control_plane.register_from(c, token, cluster, address, app=app)
    assert st == 200, b
    return json.loads(b)["id"]


def test_a_join_token_gets_a_secret_key_only_from_a_gateway_naming_its_cluster(tmp_path, pki, monkeypatch):
    """A registration's namespace and labels are only claimed; its cluster is what its join token
    binds. So a Secret's key goes only to instances of the cluster the Gateway's
    workloadSelector names; a Gateway without workloadSelector.cluster serves no Secret to any
    registered instance, and says why in the snapshot's warnings."""
    monkeypatch.setattr(test_control_plane, "HOST", f"{NET}.4")
    c = test_control_plane.ControlPlane(tmp_path)
    try:
        c.start()
        cert, key = pki["cert"].read_text(), pki["key"].read_text()
        res = tmp_path / "res.yaml"
        res.write_text(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: web, namespace: bookinfo}\nstringData:\n"
            f"  cert: |\n{indent(cert, 4)}  key: |\n{indent(key, 4)}---\n" +
            tls_gateway("{mode: SIMPLE, secretName: web}").replace("name: web}", "name: named, namespace: bookinfo}")
            .replace("    namespace: bookinfo\n", "    cluster: cluster-1\n    namespace: bookinfo\n") + "---\n" +
            tls_gateway("{mode: SIMPLE, secretName: web}", port=9443)
            .replace("name: web}", "name: any, namespace: bookinfo}").replace("ingressgw-1", "ingressgw-any"))
        c.cli("apply", "-f", res, check=True)
        join1 = c.cli("token", "create", "--cluster", "cluster-1", check=True).stdout.strip()
        join2 = c.cli("token", "create", "--cluster", "cluster-2", check=True).stdout.strip()

        def snapshot(token, iid):
            st, _, b = c.api("GET", f"/v1/instances/{iid}/snapshot?after=0&timeout_ms=5000", token=token)
            assert st == 200, b
            return b.decode()

        # cluster-1's own ingress gets the key of the Gateway that names cluster-1
        own = register_as(c, join1, "cluster-1", "ingressgw-1", f"{NET}.41")
        assert "PRIVATE KEY" in snapshot(join1, own)
        # a cluster-2 token claiming cluster-1's namespace and labels gets neither Gateway's key
        for app in ("ingressgw-1", "ingressgw-any"):
            iid = register_as(c, join2, "cluster-2", app, f"{NET}.42")
            body = snapshot(join2, iid)
            assert "PRIVATE KEY" not in body and key.splitlines()[1] not in body, body[:2000]
        assert "Secret bookinfo/web is sent to a registered instance only when the Gateway's " \
               "workloadSelector.cluster names its cluster: the server is not served" in body, body[:2000]
        # nor does cluster-1's own token, from the Gateway that names no cluster
        any1 = register_as(c, join1, "cluster-1", "ingressgw-any", f"{NET}.43")
        body = snapshot(join1, any1)
        assert "PRIVATE KEY" not in body and "workloadSelector.cluster names its cluster" in body
    finally:
        c.kill()
