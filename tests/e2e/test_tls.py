"""TLS at the listener: HTTPS served and proxied, SNI choosing among a port's servers, ALPN,
client certificates (MUTUAL), 421 when Host names another server than SNI chose, nginx's cleartext
400 for plaintext HTTP on a TLS port, the header timeout bounding a stalled handshake, session
resumption, reloads that change certificates for new connections only, and the metrics.

Certificates are made at run time (`crossgate ca` and the openssl CLI); no key is committed.
Addresses: 127.0.72.0/24. Nothing waits with a bare sleep.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

import support
from support import ca_init
from conftest import (BIN, direct, free_port, gateway_doc, server, service_doc, to_service, uri,
                      wait_until, yaml_docs)

NET = "127.0.72"


# ---------------------------------------------------------------- certificates

def ca_issue(d, prefix, dns=(), cluster="cluster-1"):
    support.ca_issue(d, prefix, cluster, dns=dns)
    return prefix.with_suffix(".crt"), prefix.with_suffix(".key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    ca = ca_init(root / "ca", "test server CA")
    other_ca = ca_init(root / "other", "another CA")
    out = {"ca": ca, "other_ca": other_ca, "dir": root}
    for name, dns in [("a", ["a.example"]), ("b", ["b.example"]), ("wild", ["*.wild.example"]),
                      ("a2", ["a.example"])]:
        out[name] = ca_issue(root / "ca", root / name, dns)
    out["client"] = ca_issue(root / "ca", root / "client", ["client.example"])
    out["client_other_san"] = ca_issue(root / "ca", root / "client2", ["intruder.example"])
    out["client_other_ca"] = ca_issue(root / "other", root / "client3", ["client.example"])
    return out


def tls_files(cert_key, mode="SIMPLE", ca=None, sans=None):
    cert, key = cert_key
    files = {"serverCertificate": str(cert), "privateKey": str(key)}
    if ca:
        files["caCertificates"] = str(ca)
    t = {"mode": mode, "files": files}
    if sans:
        t["subjectAltNames"] = list(sans)
    return t


def tls_server(name, port, hostname, rules, tls):
    s = server(name, port, hostname, rules)
    s["tls"] = tls
    return s


def client_ctx(pki, cert=None, alpn=None):
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(addr, port, ctx, sni, session=None, timeout=10):
    raw = socket.create_connection((addr, port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise


def read_response(s):
    """One HTTP/1.1 response with a content-length: (status, headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(body)
        body += chunk
    return status, hdrs, body


def https_get(s, host, path="/"):
    s.sendall(f"GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n".encode())
    return read_response(s)


def peer_dns(s):
    return [v for k, v in s.getpeercert().get("subjectAltName", ()) if k == "DNS"]


def by_reason(gw, reason):
    return gw.metrics().get("crossgate_downstream_tls_handshake_failed_total", reason=reason)


# ---------------------------------------------------------------- SIMPLE, SNI, ALPN

@pytest.fixture(scope="module")
def simple(module_procs, pki):
    g = module_procs
    addr = f"{NET}.1"
    app = g.app(f"{NET}.10", "cluster-1")
    raw = g.raw_upstream(f"{NET}.20")
    port = free_port(addr)
    echo = {"directResponse": {"status": 200, "body": "wild\n"}}
    resources = {
        "services.yaml": yaml_docs(
            service_doc("cluster-1", [(app.host, app.port)]),
            service_doc("cluster-1", [(raw.host, raw.port)], name="raw",
                        hostname="raw.bookinfo.svc.cluster.local")),
        "gateway.yaml": yaml_docs(gateway_doc([
            tls_server("a", port, "a.example", [
                to_service(raw.port, "bookinfo/raw.bookinfo.svc.cluster.local",
                           match=[uri("prefix", "/raw/")]),
                to_service(app.port)], tls_files(pki["a"])),
            tls_server("b", port, "b.example", [direct(200, "b\n")], tls_files(pki["b"])),
            tls_server("w", port, "*.wild.example", [echo], tls_files(pki["wild"])),
        ])),
    }
    gw = g.gateway(addr, resources, wait_ports=(port,))
    return {"gw": gw, "addr": addr, "port": port, "app": app, "raw": raw}


def test_simple_https_is_served_and_proxied_to_the_backend(simple, pki):
    r = subprocess.run(["curl", "-sS", "--cacert", str(pki["ca"]), "--resolve",
                        f"a.example:{simple['port']}:{simple['addr']}", "-D", "-",
                        f"https://a.example:{simple['port']}/x"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HTTP/2 200"), r.stdout  # curl asks for h2 first, and gets it
    assert "productpage from cluster-1" in r.stdout
    assert "x-app-cluster: cluster-1" in r.stdout.lower()


def test_sni_picks_the_certificate_among_the_port_servers(simple, pki):
    ctx = client_ctx(pki)
    for sni, want, body in [("a.example", "a.example", b"productpage"), ("b.example", "b.example", b"b\n"),
                            ("x.wild.example", "*.wild.example", b"wild\n")]:
        with tls_connect(simple["addr"], simple["port"], ctx, sni) as s:
            assert peer_dns(s) == [want]
            status, _, got = https_get(s, sni)
            assert status == 200 and got.startswith(body), (sni, status, got)


def test_a_client_without_sni_gets_the_first_server(simple, pki):
    ctx = client_ctx(pki)
    ctx.check_hostname = False
    with tls_connect(simple["addr"], simple["port"], ctx, None) as s:
        assert peer_dns(s) == ["a.example"]


def test_alpn_prefers_h2_and_gives_http11_to_clients_that_ask_only_for_it(simple, pki):
    with tls_connect(simple["addr"], simple["port"], client_ctx(pki, alpn=["http/1.1", "h2"]),
                     "a.example") as s:
        assert s.selected_alpn_protocol() == "h2"  # the server's preference
    with tls_connect(simple["addr"], simple["port"], client_ctx(pki, alpn=["http/1.1"]),
                     "a.example") as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        status, _, got = https_get(s, "a.example")
        assert status == 200 and got.startswith(b"productpage"), (status, got)
    r = subprocess.run(["openssl", "s_client", "-connect", f"{simple['addr']}:{simple['port']}",
                        "-servername", "b.example", "-alpn", "http/1.1", "-CAfile", str(pki["ca"])],
                       input="", capture_output=True, text=True, timeout=20)
    assert "ALPN protocol: http/1.1" in r.stdout, r.stdout
    assert "Verify return code: 0 (ok)" in r.stdout
    assert re.search(r"subject=.*", r.stdout)


# ---------------------------------------------------------------- handshake outcomes

def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_plaintext_http_on_a_tls_port_gets_a_cleartext_400(simple):
    gw = simple["gw"]
    before = by_reason(gw, "http_request")
    with socket.create_connection((simple["addr"], simple["port"]), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: a.example\r\n\r\n")
        data = read_all(s)
    assert b"productpage" not in data  # a TLS server never answers in clear text
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert b"connection: close" in head.lower()
    assert body == b"The plain HTTP request was sent to HTTPS port\n"
    wait_until(lambda: by_reason(gw, "http_request") == before + 1, what="http_request counted")


def test_a_stalled_handshake_is_closed_after_the_header_timeout(module_procs, pki):
    addr = f"{NET}.2"
    port = free_port(addr)
    gw = module_procs.gateway(addr, {"gw.yaml": yaml_docs(gateway_doc([
        tls_server("a", port, "a.example", [direct(200, "a\n")], tls_files(pki["a"]))]))},
        wait_ports=(port,), name="gw-stall", extra_args=("--header-timeout", "1s"))
    with socket.create_connection((addr, port), timeout=10) as s:
        wait_until(lambda: gw.metrics().get("crossgate_downstream_cx_active") == 1, what="accepted")
        start = time.monotonic()
        s.settimeout(8)
        assert read_all(s) == b""  # closed by the gateway, unanswered
        assert time.monotonic() - start >= 0.5  # by the timer, not at once
    wait_until(lambda: gw.metrics().get("crossgate_downstream_cx_active") == 0, what="closed")


def test_metrics_count_handshakes_and_failures_by_reason(simple, pki):
    gw = simple["gw"]
    m = gw.metrics()
    done, eof = m.get("crossgate_downstream_tls_handshake_total"), by_reason(gw, "eof")
    unknown_ca = by_reason(gw, "unknown_ca") + by_reason(gw, "bad_certificate")
    with tls_connect(simple["addr"], simple["port"], client_ctx(pki), "b.example") as s:
        assert https_get(s, "b.example")[0] == 200
    socket.create_connection((simple["addr"], simple["port"]), timeout=10).close()  # eof
    bad = ssl.create_default_context(cafile=str(pki["other_ca"]))  # rejects the server's cert
    with pytest.raises(ssl.SSLError):
        tls_connect(simple["addr"], simple["port"], bad, "b.example")
    wait_until(lambda: gw.metrics().get("crossgate_downstream_tls_handshake_total") == done + 1,
               what="one handshake counted")
    wait_until(lambda: by_reason(gw, "eof") == eof + 1, what="eof counted")
    # the client's alert (unknown CA) fails the server's handshake too
    try:
        wait_until(lambda: by_reason(gw, "unknown_ca") + by_reason(gw, "bad_certificate") > unknown_ca,
                   what="the client's alert counted")
    except AssertionError:
        raise AssertionError([l for l in gw.metrics().text.splitlines() if "failed_total{" in l])
    text = gw.metrics().text
    for reason in ["no_shared_cipher", "bad_certificate", "no_client_certificate", "unknown_ca",
                   "protocol_version", "http_request", "eof", "other"]:
        assert f'crossgate_downstream_tls_handshake_failed_total{{reason="{reason}"}}' in text


# ---------------------------------------------------------------- 421, forwarded proto

def test_host_of_another_tls_server_than_sni_chose_is_421(simple, pki):
    ctx = client_ctx(pki)
    with tls_connect(simple["addr"], simple["port"], ctx, "b.example") as s:
        status, hdrs, _ = https_get(s, "a.example")
        assert status == 421
    with tls_connect(simple["addr"], simple["port"], ctx, "b.example") as s:
        assert https_get(s, "b.example:443")[0] == 200  # same server, port in Host: fine
    with tls_connect(simple["addr"], simple["port"], ctx, "x.wild.example") as s:
        assert https_get(s, "y.wild.example")[0] == 200  # another name of the same server
        # the connection is closed after a 421, so a new one for the mismatch
    with tls_connect(simple["addr"], simple["port"], ctx, "x.wild.example") as s:
        assert https_get(s, "b.example")[0] == 421


def test_without_sni_the_first_server_answers_and_another_host_is_421(simple, pki):
    ctx = client_ctx(pki)
    ctx.check_hostname = False
    with tls_connect(simple["addr"], simple["port"], ctx, None) as s:
        status, _, body = https_get(s, "a.example")
        assert status == 200 and body.startswith(b"productpage"), (status, body)
    with tls_connect(simple["addr"], simple["port"], ctx, None) as s:
        assert https_get(s, "b.example")[0] == 421


def test_x_forwarded_proto_is_https_on_tls_connections(simple, pki):
    with tls_connect(simple["addr"], simple["port"], client_ctx(pki), "a.example") as s:
        s.sendall(b"GET /raw/proto HTTP/1.1\r\nhost: a.example\r\nx-forwarded-proto: http\r\n\r\n")
        assert read_response(s)[0] == 200
    up = [q for q in simple["raw"].complete_requests() if q.path == "/raw/proto"][-1]
    assert up.header_all("x-forwarded-proto") == ["https"]


# ---------------------------------------------------------------- MUTUAL

@pytest.fixture(scope="module")
def mutual(module_procs, pki):
    addr = f"{NET}.3"
    port = free_port(addr)
    tls = tls_files(pki["a"], mode="MUTUAL", ca=pki["ca"], sans=["client.example"])
    gw = module_procs.gateway(addr, {"gw.yaml": yaml_docs(gateway_doc([
        tls_server("a", port, "a.example", [direct(200, "hello client\n")], tls)]))},
        wait_ports=(port,), name="gw-mutual")
    return {"gw": gw, "addr": addr, "port": port}


def mutual_get(m, ctx):
    with tls_connect(m["addr"], m["port"], ctx, "a.example") as s:
        return https_get(s, "a.example")


def test_mutual_accepts_a_client_certificate_from_the_ca_with_an_allowed_san(mutual, pki):
    status, _, body = mutual_get(mutual, client_ctx(pki, cert=pki["client"]))
    assert (status, body) == (200, b"hello client\n")


@pytest.mark.parametrize("who", ["no-certificate", "other-ca", "other-san"])
def test_mutual_refuses(mutual, pki, who):
    cert = {"no-certificate": None, "other-ca": pki["client_other_ca"],
            "other-san": pki["client_other_san"]}[who]
    gw = mutual["gw"]
    before = gw.metrics().sum("crossgate_downstream_tls_handshake_failed_total")
    # TLS 1.3: the client's handshake ends before the server checked its certificate; the
    # refusal arrives as an alert on the first read
    with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError, BrokenPipeError)):
        mutual_get(mutual, client_ctx(pki, cert=cert))
    wait_until(lambda: gw.metrics().sum("crossgate_downstream_tls_handshake_failed_total") == before + 1,
               what="the refusal counted")


# ---------------------------------------------------------------- resumption

def test_a_session_is_resumed(simple, pki):
    ctx = client_ctx(pki)
    gw = simple["gw"]
    resumed = gw.metrics().get("crossgate_downstream_tls_resumed_total")
    with tls_connect(simple["addr"], simple["port"], ctx, "b.example") as s:
        assert https_get(s, "b.example")[0] == 200  # TLS 1.3 tickets come after the handshake
        assert not s.session_reused
        session = s.session
    with tls_connect(simple["addr"], simple["port"], ctx, "b.example", session=session) as s:
        assert s.session_reused
        assert https_get(s, "b.example")[0] == 200
    wait_until(lambda: gw.metrics().get("crossgate_downstream_tls_resumed_total") == resumed + 1,
               what="the resumption counted")


# ---------------------------------------------------------------- reloads

def serial(s):
    return s.getpeercert()["serialNumber"]


@pytest.fixture
def reloading(procs, pki, tmp_path):
    addr = f"{NET}.4"
    port = free_port(addr)
    cert, key = tmp_path / "served.crt", tmp_path / "served.key"
    cert.write_bytes(pki["a"][0].read_bytes())
    key.write_bytes(pki["a"][1].read_bytes())
    gw = procs.gateway(addr, {"gw.yaml": reloading_doc(port, cert, key, pki)},
                       wait_ports=(port,), name="gw-reload")
    return {"gw": gw, "addr": addr, "port": port, "cert": cert, "key": key}


def reloading_doc(port, cert, key, pki, b_body="b\n", order=("a", "b")):
    servers = {"a": tls_server("a", port, "a.example", [direct(200, "a\n")], tls_files((cert, key))),
               "b": tls_server("b", port, "b.example", [direct(200, b_body)], tls_files(pki["b"]))}
    return yaml_docs(gateway_doc([servers[n] for n in order]))


def new_serial_presented(r, ctx, old):
    with tls_connect(r["addr"], r["port"], ctx, "a.example") as s:
        return serial(s) != old and serial(s)


def test_a_changed_certificate_file_is_served_to_new_connections_only(reloading, pki, tmp_path):
    r, ctx = reloading, client_ctx(pki)
    with tls_connect(r["addr"], r["port"], ctx, "a.example") as kept:
        assert https_get(kept, "a.example")[0] == 200
        old = serial(kept)
        new = ca_issue(pki["dir"] / "ca", tmp_path / "renewed", ["a.example"])
        for src, dst in [(new[0], r["cert"]), (new[1], r["key"])]:
            tmp = dst.with_name(dst.name + ".tmp")
            tmp.write_bytes(src.read_bytes())
            os.replace(tmp, dst)
        wait_until(lambda: new_serial_presented(r, ctx, old), what="the renewed certificate served")
        # the open connection keeps its session, and its server (no 421 after the reload)
        status, _, body = https_get(kept, "a.example")
        assert (status, body) == (200, b"a\n")
        assert serial(kept) == old


def same_size_cert(pki, tmp_path, like):
    """A new certificate and key for a.example of exactly the sizes of `like` (ECDSA signatures
    vary by a byte or two), so that rewriting the files in place keeps their signature."""
    for i in range(40):
        c, k = ca_issue(pki["dir"] / "ca", tmp_path / f"same{i}", ["a.example"])
        if c.stat().st_size == like[0].stat().st_size and k.stat().st_size == like[1].stat().st_size:
            return c, k
    raise AssertionError("no certificate of the same size in 40 tries")


def test_sighup_rebuilds_the_contexts(reloading, pki, tmp_path):
    r, ctx = reloading, client_ctx(pki)
    gw = r["gw"]
    kept = tls_connect(r["addr"], r["port"], ctx, "a.example")
    old = serial(kept)
    new = same_size_cert(pki, tmp_path, (r["cert"], r["key"]))
    ok = gw.metrics().get("crossgate_config_reloads_total", result="ok")
    for src, dst in [(new[0], r["cert"]), (new[1], r["key"])]:
        st = dst.stat()
        with open(dst, "r+b") as f:  # in place, then the old times back: the watcher sees nothing
            f.write(src.read_bytes())
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    with tls_connect(r["addr"], r["port"], ctx, "a.example") as s:
        assert serial(s) == old  # nothing reloaded by itself
    gw.proc.signal(signal.SIGHUP)
    wait_until(lambda: gw.metrics().get("crossgate_config_reloads_total", result="ok") == ok + 1,
               what="the SIGHUP reload")
    with tls_connect(r["addr"], r["port"], ctx, "a.example") as s:
        assert serial(s) != old
    with kept:  # the connection opened before the reload still serves
        status, _, body = https_get(kept, "a.example")
        assert (status, body) == (200, b"a\n")


def test_a_reload_with_an_unreadable_tls_file_keeps_the_old_config(reloading, pki, tmp_path):
    r, ctx = reloading, client_ctx(pki)
    gw = r["gw"]
    rejected = gw.metrics().get("crossgate_config_reloads_total", result="rejected")
    missing = tmp_path / "gone.key"
    gw.rewrite("gw.yaml", yaml_docs(gateway_doc([
        tls_server("a", r["port"], "a.example", [direct(200, "new\n")],
                   tls_files((r["cert"], missing)))])))
    wait_until(lambda: gw.metrics().get("crossgate_config_reloads_total", result="rejected") > rejected,
               what="the reload rejected")
    gw.wait_log(rf"cannot open {re.escape(str(missing))}")
    with tls_connect(r["addr"], r["port"], ctx, "a.example") as s:
        assert https_get(s, "a.example")[2] == b"a\n"


# ---------------------------------------------------------------- access log

def test_access_log_tls_fields_name_the_version_and_server_name(procs, pki):
    addr = f"{NET}.5"
    port, plain = free_port(addr), free_port(addr)
    gw = procs.gateway(addr, {"gw.yaml": yaml_docs(gateway_doc([
        tls_server("a", port, "a.example", [direct(200, "a\n", match=[uri("exact", "/tls")])],
                   tls_files(pki["a"])),
        server("p", plain, "*", [direct(200, "p\n", match=[uri("exact", "/plain")])])]))},
        wait_ports=(port, plain), name="gw-log", extra_args=("--access-log-tls",))
    with tls_connect(addr, port, client_ctx(pki), "a.example") as s:
        assert https_get(s, "a.example", "/tls")[0] == 200
    with socket.create_connection((addr, plain), timeout=10) as s:
        assert https_get(s, "p.example", "/plain")[0] == 200

    def line(path):
        return next((l for l in gw.access_lines() if f" {path} HTTP/1.1" in l), None)
    tls_line = wait_until(lambda: line("/tls"), what="the TLS request logged")
    plain_line = wait_until(lambda: line("/plain"), what="the plain request logged")
    assert tls_line.endswith(' "TLSv1.3" "a.example"'), tls_line
    assert plain_line.endswith(' "-" "-"'), plain_line


def test_access_log_default_format_has_no_tls_fields(simple, pki):
    with tls_connect(simple["addr"], simple["port"], client_ctx(pki), "b.example") as s:
        assert https_get(s, "b.example", "/default-format")[0] == 200
    e = simple["gw"].wait_access(lambda e: e["path"] == "/default-format", what="logged")
    assert e["authority"] == "b.example"  # Envoy's default line, parsed whole


def test_after_a_reload_an_open_connection_is_still_judged_by_its_sni(reloading, pki):
    """The servers change order: the handshake's index names a server of the old set, so the
    connection is judged again by the name it sent."""
    r, ctx = reloading, client_ctx(pki)
    gw = r["gw"]
    with tls_connect(r["addr"], r["port"], ctx, "b.example") as kept, \
            tls_connect(r["addr"], r["port"], ctx, "b.example") as kept2:
        assert https_get(kept, "b.example")[0] == 200
        assert https_get(kept2, "b.example")[0] == 200
        version = gw.config_version()
        gw.rewrite("gw.yaml", reloading_doc(r["port"], r["cert"], r["key"], pki, b_body="b2\n",
                                            order=("b", "a")))
        wait_until(lambda: gw.config_version() > version, what="the reload")
        status, _, body = https_get(kept, "b.example")
        assert (status, body) == (200, b"b2\n")
        assert https_get(kept2, "a.example")[0] == 421
    # a new connection without SNI now gets b, the first server
    ctx.check_hostname = False
    with tls_connect(r["addr"], r["port"], ctx, None) as s:
        assert peer_dns(s) == ["b.example"]
        assert https_get(s, "a.example")[0] == 421


# ---------------------------------------------------------------- versions, Secrets

def indent(text, n):
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def test_a_secret_is_served_and_min_version_is_enforced(procs, pki):
    addr = f"{NET}.6"
    port = free_port(addr)
    cert, key = pki["b"][0].read_text(), pki["b"][1].read_text()
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: b}\nstringData:\n"
              f"  cert: |\n{indent(cert, 4)}  key: |\n{indent(key, 4)}")
    gw = procs.gateway(addr, {"secret.yaml": secret, "gw.yaml": yaml_docs(gateway_doc([
        tls_server("b", port, "b.example", [direct(200, "from secret\n")],
                   {"mode": "SIMPLE", "secretName": "b", "minProtocolVersion": "TLSV1_3"})]))},
        wait_ports=(port,), name="gw-secret")
    with tls_connect(addr, port, client_ctx(pki), "b.example") as s:
        assert peer_dns(s) == ["b.example"] and s.version() == "TLSv1.3"
        status, _, body = https_get(s, "b.example")
        assert (status, body) == (200, b"from secret\n")
    before = by_reason(gw, "protocol_version")
    old = client_ctx(pki)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        tls_connect(addr, port, old, "b.example")
    wait_until(lambda: by_reason(gw, "protocol_version") == before + 1,
               what="the TLS 1.2 client counted as protocol_version")


def test_cipher_suites_limit_what_is_negotiated(procs, pki):
    addr = f"{NET}.7"
    port = free_port(addr)
    tls = tls_files(pki["a"])
    tls.update({"maxProtocolVersion": "TLSV1_2",
                "cipherSuites": ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]})
    gw = procs.gateway(addr, {"gw.yaml": yaml_docs(gateway_doc([
        tls_server("a", port, "a.example", [direct(200, "a\n")], tls)]))},
        wait_ports=(port,), name="gw-ciphers")
    for suite in ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]:  # both listed
        ctx = client_ctx(pki)
        ctx.set_ciphers(suite)
        with tls_connect(addr, port, ctx, "a.example") as s:
            assert s.version() == "TLSv1.2" and s.cipher()[0] == suite
    before = by_reason(gw, "no_shared_cipher")
    ctx = client_ctx(pki)
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with pytest.raises(ssl.SSLError):
        tls_connect(addr, port, ctx, "a.example")
    wait_until(lambda: by_reason(gw, "no_shared_cipher") == before + 1, what="no_shared_cipher counted")
