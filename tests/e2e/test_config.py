"""Resource files: validation at start-up, and reloads (file change, SIGHUP) while serving."""

import os
import re
import signal
import subprocess

import pytest

from conftest import (BIN, HttpConn, direct, free_port, gateway_doc, http_get, server,
                      service_doc, to_service, uri, wait_until, yaml_docs)

NET = "127.0.16"

HEADER = """apiVersion: crossgate/v1
kind: Gateway
metadata:
  name: broken
spec:
  workloadSelector:
    namespace: bookinfo
    labels: {app: ingressgw-1}
  http:
  - name: web
"""

# Each case: the file text and the (line, column) the error must point at, and a word of
# the message. Lines are 1-based; HEADER holds lines 1-10.
BAD_FILES = {
    "invalid-yaml": (HEADER + "    port: 8080\n    hostname: a: b\n", (12, None), None),
    "invalid-yaml-tab": (HEADER + "    port: 8080\n\thostname: x\n", (12, None), "tab"),
    "unknown-field": (HEADER + "    port: 8080\n    hostnmae: a.example.com\n"
                      "    routing: {rules: [{directResponse: {status: 200}}]}\n",
                      (12, 5), "unknown field"),
    "wrong-type": (HEADER + "    port: eighty\n    hostname: a.example.com\n"
                   "    routing: {rules: [{directResponse: {status: 200}}]}\n",
                   (11, 11), "expected an integer"),
    "port-out-of-range": (HEADER + "    port: 70000\n    hostname: a.example.com\n"
                          "    routing: {rules: [{directResponse: {status: 200}}]}\n",
                          (11, 11), "port"),
    "missing-required-field": (HEADER + "    hostname: a.example.com\n"
                               "    routing: {rules: [{directResponse: {status: 200}}]}\n",
                               (10, 5), "missing required field"),
    "two-actions-in-a-rule": (HEADER + "    port: 8080\n    hostname: a.example.com\n"
                              "    routing:\n      rules:\n"
                              "      - directResponse: {status: 200}\n"
                              "        redirect: {uri: /x}\n",
                              (15, 9), None),
    "bad-regex": (HEADER + "    port: 8080\n    hostname: a.example.com\n"
                  "    routing:\n      rules:\n"
                  "      - match: [{uri: {regex: \"a(b\"}}]\n"
                  "        directResponse: {status: 200}\n",
                  (15, None), "regular expression"),
}


def run_gateway_once(path, address, timeout=10):
    return subprocess.run(
        [BIN, "gateway", "--cluster", "cluster-1", "--namespace", "bookinfo",
         "--label", "app=ingressgw-1", "--address", address, "--admin", "off",
         "--access-log", "off", "-f", str(path)],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_invalid_resources_at_startup_exit_nonzero_naming_file_line_column(tmp_path, case):
    text, (line, col), word = BAD_FILES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    p = run_gateway_once(path, f"{NET}.2")
    assert p.returncode != 0, p.stderr
    first = p.stderr.splitlines()[0]
    m = re.match(rf"^{re.escape(str(path))}:(\d+):(\d+): ", first)
    assert m, f"first stderr line does not start with file:line:col: {first!r}"
    assert int(m.group(1)) == line, p.stderr
    if col is not None:
        assert int(m.group(2)) == col, p.stderr
    if word:
        assert word in p.stderr
    assert "Traceback" not in p.stderr and "Segmentation" not in p.stderr


def test_error_names_the_field_path(tmp_path):
    path = tmp_path / "path.yaml"
    path.write_text(BAD_FILES["unknown-field"][0])
    p = run_gateway_once(path, f"{NET}.2")
    assert "spec.http[0].hostnmae" in p.stderr


def test_missing_resource_file_is_a_clear_error(tmp_path):
    p = run_gateway_once(tmp_path / "nope.yaml", f"{NET}.2")
    assert p.returncode != 0
    assert "nope.yaml" in p.stderr
    assert len(p.stderr.strip().splitlines()) <= 3


# --- reloads

def resources(port, rules, extra_servers=()):
    return yaml_docs(gateway_doc([server("web", port, "*", rules), *extra_servers]))


@pytest.fixture
def reloadable(procs):
    addr = f"{NET}.1"
    port = free_port(addr)
    raw = procs.raw_upstream(f"{NET}.20")
    svc = yaml_docs(service_doc("cluster-1", [(raw.host, raw.port)]))
    rules_v1 = [direct(200, "v1\n", match=[uri("exact", "/version")]),
                to_service(raw.port, match=[uri("prefix", "/up")])]
    gw = procs.gateway(addr, {"svc.yaml": svc, "gw.yaml": resources(port, rules_v1)},
                       wait_ports=(port,))
    return {"gw": gw, "addr": addr, "port": port, "raw": raw}


def version_body(env, conn=None):
    if conn is not None:
        return conn.get("/version").body
    return http_get(env["addr"], env["port"], "/version").body


def test_broken_file_at_reload_is_rejected_and_old_config_keeps_serving(reloadable):
    env, gw = reloadable, reloadable["gw"]
    v0 = gw.config_version()
    before = gw.metrics().get("crossgate_config_reloads_total", result="rejected")
    with HttpConn(env["addr"], env["port"]) as held:
        assert version_body(env, held) == b"v1\n"
        gw.rewrite("gw.yaml", "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: x}\nspec:\n"
                              "  workloadSelector: {namespace: bookinfo}\n  http: [ {port: 1\n")
        wait_until(lambda: gw.metrics().get("crossgate_config_reloads_total", result="rejected") > before,
                   what="the reload to be rejected")
        log = gw.wait_log(r"reload .* rejected")
        assert re.search(r"gw\.yaml:\d+:\d+:", gw.log()), gw.log()
        assert version_body(env, held) == b"v1\n"
        assert version_body(env) == b"v1\n"
        assert gw.config_version() == v0
    assert log


def test_invalid_resource_at_reload_keeps_old_config(reloadable):
    env, gw = reloadable, reloadable["gw"]
    before = gw.metrics().get("crossgate_config_reloads_total", result="rejected")
    gw.rewrite("gw.yaml", resources(env["port"], [direct(200, "v2\n", match=[uri("regex", "a(")])]))
    wait_until(lambda: gw.metrics().get("crossgate_config_reloads_total", result="rejected") > before,
               what="the reload to be rejected")
    assert version_body(env) == b"v1\n"


def test_valid_change_at_reload_serves_new_config_without_dropping_connections(reloadable):
    env, gw, raw = reloadable, reloadable["gw"], reloadable["raw"]
    v0 = gw.config_version()
    ok0 = gw.metrics().get("crossgate_config_reloads_total", result="ok")
    new_port = free_port(env["addr"])
    with HttpConn(env["addr"], env["port"]) as held, HttpConn(env["addr"], env["port"]) as inflight:
        assert version_body(env, held) == b"v1\n"
        # a request in flight across the reload: the upstream holds it until the gate opens
        inflight.send(b"GET /up/gate HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_until(lambda: any(q.path == "/up/gate" for q in raw.requests), what="request upstream")

        gw.rewrite("gw.yaml", resources(
            env["port"],
            [direct(200, "v2\n", match=[uri("exact", "/version")]),
             direct(200, "new route\n", match=[uri("exact", "/new")]),
             to_service(raw.port, match=[uri("prefix", "/up")])],
            [server("extra", new_port, "*", [direct(200, "new port\n")])]))
        wait_until(lambda: http_get(env["addr"], env["port"], "/new").status == 200,
                   what="the new route to answer")
        assert version_body(env) == b"v2\n"
        assert gw.config_version() > v0
        assert gw.metrics().get("crossgate_config_reloads_total", result="ok") == ok0 + 1
        gw.wait_log(r"config v\d+ applied")

        # the in-flight request completes
        raw.gate.set()
        r = inflight.read_response()
        assert (r.status, r.body) == (200, b"raw\n")
        # and the keep-alive connections carry on, now on the new config
        wait_until(lambda: version_body(env, held) == b"v2\n", what="held connection on v2")
        assert version_body(env, inflight) == b"v2\n"
    # a port added by the reload is listened on
    assert http_get(env["addr"], new_port, "/").body == b"new port\n"


def test_port_removed_at_reload_stops_listening_and_others_stay(reloadable):
    env, gw = reloadable, reloadable["gw"]
    second = free_port(env["addr"])
    rules = [direct(200, "v1\n", match=[uri("exact", "/version")])]
    gw.rewrite("gw.yaml", resources(env["port"], rules, [server("b", second, "*", [direct(200, "b\n")])]))
    wait_until(lambda: http_get(env["addr"], second, "/").body == b"b\n", what="second port")
    gw.rewrite("gw.yaml", resources(env["port"], rules))

    def refused():
        try:
            http_get(env["addr"], second, "/")
            return False
        except ConnectionRefusedError:
            return True
    wait_until(refused, what="the removed port to stop listening")
    assert version_body(env) == b"v1\n"


def test_sighup_reloads_even_when_the_file_looks_unchanged(reloadable):
    env, gw = reloadable, reloadable["gw"]
    path = gw.files["gw.yaml"]
    st = path.stat()
    old = path.read_text()
    new = old.replace('"v1\\n"', '"v9\\n"')
    assert new != old and len(new) == len(old)
    # same inode, size and mtime: the file watcher cannot see this change, SIGHUP must
    with open(path, "r+") as f:
        f.write(new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    gw.proc.signal(signal.SIGHUP)
    wait_until(lambda: version_body(env) == b"v9\n", what="SIGHUP reload")
    gw.wait_log(r"config v\d+ applied \(SIGHUP\)")


def test_sigterm_stops_the_gateway_cleanly(reloadable):
    gw = reloadable["gw"]
    gw.proc.signal(signal.SIGTERM)
    gw.proc.p.wait(10)
    gw.proc.expect_alive = False
    assert gw.proc.p.returncode == 0, gw.log()


@pytest.mark.parametrize("flag,value", [
    ("--header-timeout", "0"), ("--header-timeout", "2x"), ("--idle-timeout", "90m"),
    ("--drain-time", "-1"), ("--max-connections", "0"), ("--workers", "0"),
])
def test_bad_duration_and_limit_flags_exit_2_with_one_line(flag, value, tmp_path):
    r = subprocess.run([BIN, "gateway", "--cluster", "c", "-f", str(tmp_path), flag, value],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and value in lines[0]
