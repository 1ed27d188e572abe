"""Large bodies stream through the gateway in bounded memory (1 GiB each way)."""

import threading
import time

import pytest

from conftest import HttpConn, build_request, free_port, gateway_doc, server, service_doc, \
    to_service, yaml_docs

NET = "127.0.17"
GW = f"{NET}.1"
GIB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024


@pytest.fixture(scope="module")
def env(module_procs):
    g = module_procs
    raw = g.raw_upstream(f"{NET}.20")
    port = free_port(GW)
    resources = {
        "resources.yaml": yaml_docs(
            service_doc("cluster-1", [(raw.host, raw.port)]),
            gateway_doc([server("big", port, "*", [to_service(raw.port)])])),
    }
    gw = g.gateway(GW, resources, wait_ports=(port,), workers=1)
    return {"gw": gw, "port": port, "raw": raw}


class RssSampler:
    """Samples a process's VmRSS in a thread while a transfer runs."""

    def __init__(self, proc):
        self.proc = proc
        self.max_kib = proc.rss_kib()
        self.samples = 0
        self._done = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._done.wait(0.02):  # a sampling period, not a synchronisation
            self.max_kib = max(self.max_kib, self.proc.rss_kib())
            self.samples += 1

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._done.set()
        self._t.join()
        self.max_kib = max(self.max_kib, self.proc.rss_kib())


def test_one_gib_download_streams_in_bounded_memory(env):
    gw = env["gw"]
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    t0 = time.monotonic()
    with RssSampler(gw.proc) as rss, HttpConn(GW, env["port"], timeout=60) as c:
        c.send(build_request("GET", f"/download/{GIB}"))
        code, _, hdrs, _ = c.read_head()
        assert code == 200
        assert dict((k.lower(), v) for k, v in hdrs)["content-length"] == str(GIB)
        got = len(c.buf)
        c.buf = b""
        while got < GIB:
            n = c.sock.recv_into(view)
            assert n, f"connection closed after {got} of {GIB} bytes"
            got += n
        assert got == GIB
        # the connection is still usable afterwards
        r = c.get("/after-download")
        assert r.status == 200
    elapsed = time.monotonic() - t0
    print(f"1 GiB download: {elapsed:.1f}s, gateway max RSS {rss.max_kib} KiB over {rss.samples} samples")
    assert rss.samples > 0
    assert rss.max_kib < RSS_LIMIT_KIB, f"gateway RSS reached {rss.max_kib} KiB"
    e = gw.wait_access(lambda e: e["path"] == f"/download/{GIB}")
    assert (e["status"], e["tx"], e["flags"]) == (200, GIB, "-")


def test_one_gib_upload_streams_in_bounded_memory(env):
    gw = env["gw"]
    block = memoryview(b"u" * (1 << 20))
    t0 = time.monotonic()
    with RssSampler(gw.proc) as rss, HttpConn(GW, env["port"], timeout=60) as c:
        c.send(build_request("POST", "/upload", headers=[("Content-Length", str(GIB))]))
        for _ in range(GIB // len(block)):
            c.sock.sendall(block)
        r = c.read_response()
    elapsed = time.monotonic() - t0
    print(f"1 GiB upload: {elapsed:.1f}s, gateway max RSS {rss.max_kib} KiB over {rss.samples} samples")
    assert r.status == 200
    assert r.header("x-received") == str(GIB)
    assert rss.samples > 0
    assert rss.max_kib < RSS_LIMIT_KIB, f"gateway RSS reached {rss.max_kib} KiB"
    e = gw.wait_access(lambda e: e["path"] == "/upload")
    assert (e["status"], e["rx"], e["flags"]) == (200, GIB, "-")


def test_one_gib_chunked_upload_streams_in_bounded_memory(env):
    gw = env["gw"]
    chunk = b"%x\r\n" % (1 << 20) + b"c" * (1 << 20) + b"\r\n"
    with RssSampler(gw.proc) as rss, HttpConn(GW, env["port"], timeout=60) as c:
        c.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
        for _ in range(GIB >> 20):
            c.sock.sendall(chunk)
        c.sock.sendall(b"0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.header("x-received") == str(GIB)
    assert rss.max_kib < RSS_LIMIT_KIB, f"gateway RSS reached {rss.max_kib} KiB"
