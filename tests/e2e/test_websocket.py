"""WebSocket through the gateway (RFC 6455 over HTTP/1.1 Upgrade): the handshake goes upstream
with its Upgrade, the upstream's 101 comes back, and then both sides are spliced byte for byte,
with backpressure and the idle timeout; logged once when it closes, with the bytes each way, and
counted in /metrics. A handshake is never retried once sent. Through edge -> ingress (over mTLS)
-> app as well.

Real clients and servers: Python's `websockets` (Debian python3-websockets). Addresses:
127.0.74.0/24, and dynamic_env.py's blocks. Nothing waits with a bare sleep.
"""

import asyncio
import socket
import threading

import pytest
import websockets

from conftest import Metrics, free_port, gateway_doc, server, service_doc, to_service, wait_until, \
    yaml_docs
from dynamic_env import Env
from support import HOSTNAME, http_request

NET = "127.0.74"


class EchoServer:
    """A WebSocket echo server (websockets) on its own event loop thread."""

    def __init__(self, host, port=None):
        self.host, self.port = host, port or free_port(host)
        self.handshakes = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        assert self.ready.wait(10), "echo server did not start"

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def echo(ws, path=None):
            self.handshakes += 1
            async for m in ws:
                await ws.send(m)

        self.server = self.loop.run_until_complete(websockets.serve(echo, self.host, self.port,
                                                                    max_size=None))
        self.ready.set()
        self.loop.run_forever()

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.t.join(10)


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_url(host, port, path="/echo"):
    return f"ws://{host}:{port}{path}"


async def echo_roundtrips(url, messages, **connect):
    """Sends each message and reads its echo on one WebSocket; returns the echoes. connect: for
    websockets.connect (host=, port=: where to connect, when not the URL's)."""
    out = []
    async with websockets.connect(url, max_size=None, **connect) as ws:
        for m in messages:
            await ws.send(m)
            out.append(await ws.recv())
    return out


def metrics(gw):
    return gw.metrics()


@pytest.fixture
def echo_gw(procs):
    echo = EchoServer(f"{NET}.20")
    port = free_port(f"{NET}.1")
    doc = yaml_docs(service_doc("cluster-1", [(echo.host, echo.port)]),
                    gateway_doc([server("ws", port, "*", [to_service(echo.port)])]))
    gw = procs.gateway(f"{NET}.1", {"gw.yaml": doc}, wait_ports=(port,), workers=1,
                       extra_args=["--idle-timeout", "2s"])
    gw.port = port
    yield gw, echo
    echo.close()


def test_websocket_messages_cross_the_gateway_and_the_tunnel_is_logged_once(echo_gw):
    gw, echo = echo_gw
    msgs = ["hello", b"\x00\x01binary\xff", "x" * 100_000, bytes(range(256)) * 2048]
    url = ws_url(gw.address, gw.port)

    async def session():
        async with websockets.connect(url, max_size=None, compression=None) as ws:
            got = []
            for m in msgs:
                await ws.send(m)
                got.append(await ws.recv())
            # while it is open: one tunnel counted, open
            m = Metrics(http_request("GET", f"http://{gw.address}:{gw.admin_port}/metrics")[2].decode())
            return got, m

    got, m = run(session())
    assert got == msgs
    assert m.get("crossgate_downstream_cx_upgrades_total") == 1
    assert m.get("crossgate_downstream_cx_upgrades_active") == 1
    assert echo.handshakes == 1
    # closed: not open any more, and one access-log line with the bytes each way
    wait_until(lambda: metrics(gw).get("crossgate_downstream_cx_upgrades_active") == 0,
               what="the tunnel to close")
    e = gw.wait_access(lambda e: e["status"] == 101, what="the tunnel's access-log line")
    sent = sum(len(x.encode() if isinstance(x, str) else x) for x in msgs)
    assert e["rx"] >= sent and e["tx"] >= sent, e  # frames: the payload and their headers
    assert len([l for l in gw.access_lines() if " 101 " in l]) == 1


def test_an_idle_tunnel_is_closed_by_the_idle_timeout(echo_gw):
    gw, _ = echo_gw

    async def session():
        async with websockets.connect(ws_url(gw.address, gw.port), ping_interval=None) as ws:
            await ws.send("once")
            assert await ws.recv() == "once"
            # nothing more from either side: the gateway's idle timeout (2 s here) ends it
            await asyncio.wait_for(ws.wait_closed(), 15)
            return ws.close_code

    assert run(session()) == 1006  # the TCP connection closed without a close frame


def test_a_plain_request_on_the_same_route_is_not_upgraded(echo_gw):
    gw, _ = echo_gw
    st, _, body = http_request("GET", f"http://{gw.address}:{gw.port}/echo",
                               headers={"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings",
                                        "HTTP2-Settings": "AAMAAABkAAQAAP__"})
    # the echo server is WebSocket only: a request without the WebSocket Upgrade gets its
    # refusal, never a 101 (the h2c Upgrade was dropped on the way)
    assert st != 101 and st < 500, (st, body)
    assert metrics(gw).get("crossgate_downstream_cx_upgrades_total") == 0


def test_a_handshake_is_not_retried_once_sent(procs):
    """An upstream that takes the handshake and closes without answering: 503 to the client,
    and the upstream saw one connection only (a GET would be retried on reset)."""
    host = f"{NET}.21"
    lsock = socket.create_server((host, 0))
    uport = lsock.getsockname()[1]
    seen = []
    stop = threading.Event()

    def serve():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
            except OSError:
                continue
            c.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            seen.append(data)
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = free_port(f"{NET}.2")
    doc = yaml_docs(service_doc("cluster-1", [(host, uport)]),
                    gateway_doc([server("ws", port, "*", [to_service(uport)])]))
    gw = procs.gateway(f"{NET}.2", {"gw.yaml": doc}, wait_ports=(port,), workers=1)

    async def session():
        try:
            async with websockets.connect(ws_url(gw.address, port)):
                return None
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code

    try:
        assert run(session()) == 503
        assert len(seen) == 1, seen
        head = seen[0].decode().lower()
        assert "upgrade: websocket" in head and "connection: upgrade" in head
        assert "sec-websocket-key:" in head
    finally:
        stop.set()
        t.join(5)
        lsock.close()
    assert metrics(gw).get("crossgate_downstream_cx_upgrades_total") == 0


def test_websocket_through_edge_and_ingress_over_mtls_to_the_demo_apps_echo(procs, tmp_path):
    """The guide's topology with mesh identities: client -> edge -> (mTLS) ingress of the edge's
    own region -> `crossgate app`'s /ws echo, and back."""
    env = Env(procs, tmp_path, mtls=True).start_all()
    msgs = ["through the edge", b"\x01" * 70_000, "x" * 200_000]
    got = run(echo_roundtrips(ws_url(HOSTNAME, env.edge_port, "/ws"), msgs, host=env.edge_host,
                              port=env.edge_port, compression=None))
    assert got == msgs
    # the edge and cluster-1's ingress (the edge's region) each spliced one tunnel
    for gw in (env.edge, env.ingress[1]):
        m = Metrics(http_request("GET", gw.admin + "/metrics")[2].decode())
        assert m.get("crossgate_downstream_cx_upgrades_total") == 1, gw.name
    m = Metrics(http_request("GET", env.ingress[2].admin + "/metrics")[2].decode())
    assert m.get("crossgate_downstream_cx_upgrades_total") == 0

    # a frame over the app's 1 MiB: its close code 1009 crosses both gateways (the app lingers,
    # reading what is still coming, so its close is not turned into a reset)
    async def too_big():
        async with websockets.connect(ws_url(HOSTNAME, env.edge_port, "/ws"), host=env.edge_host,
                                      port=env.edge_port, compression=None, max_size=None) as ws:
            await ws.send(b"\x00" * (2 << 20))
            try:
                await ws.recv()
            except websockets.exceptions.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None
        return "no close"

    for _ in range(3):
        assert run(too_big()) == 1009
