"""`crossgate app`: the demo upstream the other scenarios rely on."""

import subprocess

import pytest

from conftest import BIN, HttpConn, http_get

NET = "127.0.15"


@pytest.fixture(scope="module")
def app(module_procs):
    return module_procs.app(f"{NET}.10", "cluster-7")


def test_app_answers_every_path_with_its_cluster(app):
    for path in ("/", "/productpage", "/a/b?c=d"):
        r = http_get(app.host, app.port, path)
        assert r.status == 200
        assert r.body == b"productpage from cluster-7\n"
        assert r.header("x-app-cluster") == "cluster-7"


def test_app_healthz_is_ok(app):
    r = http_get(app.host, app.port, "/healthz")
    assert (r.status, r.body) == (200, b"ok\n")


def test_app_echoes_request_id(app):
    r = http_get(app.host, app.port, "/", headers=[("x-request-id", "abc-123")])
    assert r.header("x-request-id") == "abc-123"
    assert http_get(app.host, app.port, "/").header("x-request-id") is None


def test_app_reports_request_body_bytes(app):
    with HttpConn(app.host, app.port) as c:
        assert c.request("POST", "/", body=b"x" * 12345).header("x-app-body-bytes") == "12345"
        chunked = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        r = c.request("POST", "/", headers=[("Transfer-Encoding", "chunked")], body=chunked)
        assert r.header("x-app-body-bytes") == "5"
        assert c.get("/").header("x-app-body-bytes") == "0"


def test_app_name_flag_changes_the_body(procs):
    a = procs.app(f"{NET}.11", "cluster-8", app_name="reviews")
    assert http_get(a.host, a.port, "/").body == b"reviews from cluster-8\n"


def test_app_help_and_usage_errors():
    h = subprocess.run([BIN, "app", "--help"], capture_output=True, text=True, timeout=10)
    assert h.returncode == 0 and "--listen" in h.stdout
    bad = subprocess.run([BIN, "app", "--listen", f"{NET}.12:1"], capture_output=True, text=True,
                         timeout=10)
    assert bad.returncode != 0
    assert len(bad.stderr.strip().splitlines()) == 1 and "--cluster" in bad.stderr
