"""HTTP/2 from hostile clients (issue 12): each known attack is sent, and each test shows the
gateway's defence fired (GOAWAY ENHANCE_YOUR_CALM, a stream reset, a 431, a metric) and that the
gateway goes on serving other clients (another h2 connection and an HTTP/1.1 request get 200)
with its process alive.

Well-formed traffic comes from Python `h2` (Debian python3-h2); the attacks are frames built by
hand (a 9-byte header and a payload on a raw socket, HPACK from `hpack` or by hand), since h2
refuses to misbehave. Addresses: 127.0.76.0/24. Nothing waits with a bare sleep: reads have
deadlines and conditions are polled (wait_until).
"""

import socket
import struct
import threading
import time
from collections import defaultdict

import h2.config
import h2.connection
import h2.events
import hpack
import pytest

from conftest import HttpConn, PeerClosed, free_port, gateway_doc, server, \
    service_doc, to_service, uri, wait_until, yaml_docs
from support import DEADLINE

NET = "127.0.76"
GW = f"{NET}.1"

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types (RFC 9113 §6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
# flags
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
# error codes (RFC 9113 §7)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR = 0x0, 0x1, 0x2
REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0x7, 0x8, 0xb
# settings
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3

MIB = 1 << 20


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid & 0x7FFFFFFF) + payload


def settings_frame(entries=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in entries))


def rst_frame(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def window_update(sid, n):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", n))


def hpack_int(value, prefix_bits, first=0):
    """An HPACK integer (RFC 7541 §5.1) with `first` holding the representation's high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value, indexing=False):
    """A literal field with a literal name, not Huffman-coded: byte for byte what the test says
    (hpack's Encoder would refuse nothing, but this leaves no doubt what is on the wire)."""
    name = name if isinstance(name, bytes) else name.encode()
    value = value if isinstance(value, bytes) else value.encode()
    return bytes([0x40 if indexing else 0x00]) + hpack_int(len(name), 7) + name + \
        hpack_int(len(value), 7) + value


def request_fields(path="/", method="GET", authority="example.com", scheme="http", extra=()):
    f = []
    if method is not None:
        f.append((":method", method))
    if scheme is not None:
        f.append((":scheme", scheme))
    if path is not None:
        f.append((":path", path))
    if authority is not None:
        f.append((":authority", authority))
    return f + list(extra)


class RawH2(HttpConn):
    """A client that writes frames as the test says and reads what comes back: the response
    heads (HPACK-decoded), DATA, RST_STREAM and GOAWAY, by stream. It acknowledges the server's
    SETTINGS (unless ack_settings=False) and nothing else: no WINDOW_UPDATE unless sent by hand.
    The socket, send() and closing are HttpConn's; its reading of HTTP/1.1 is not used."""

    def __init__(self, host, port, settings=(), preface=True, ack_settings=True, timeout=DEADLINE):
        super().__init__(host, port, timeout=timeout)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.ack_settings = ack_settings
        self.eof = False
        self.heads = {}  # sid -> [(name, value)] of the first final response head
        self.interim = {}  # sid -> [[(name, value)], ...] of its 1xx heads
        self.data = defaultdict(int)  # sid -> DATA bytes
        self.ended = set()  # sids with END_STREAM from the server
        self.resets = {}  # sid -> error code
        self.goaway = None  # (last stream id, error code)
        self.window_updates = defaultdict(int)  # sid -> increments received (0: the connection)
        self.server_settings = None
        self._block = None  # (sid, bytes) of a header block in progress
        if preface:
            self.send(PREFACE + settings_frame(settings))

    def send_flood(self, data):
        """Sends an attack; the gateway hanging up half way through is its defence, not an error."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def headers(self, sid, fields, end_stream=True, flags=None):
        block = self.enc.encode(fields)
        fl = flags if flags is not None else END_HEADERS | (END_STREAM if end_stream else 0)
        self.send(frame(HEADERS, fl, sid, block))

    def status(self, sid):
        h = self.heads.get(sid)
        return int(dict(h)[":status"]) if h else None

    # --- reading
    def _frames(self):
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
            self._on_frame(ftype, flags, sid, payload)

    def _on_frame(self, ftype, flags, sid, payload):
        if ftype in (HEADERS, CONTINUATION):
            if ftype == HEADERS:
                if flags & 0x8:  # PADDED
                    payload = payload[1:len(payload) - payload[0]]
                if flags & 0x20:  # PRIORITY
                    payload = payload[5:]
                self._block = (sid, payload)
            else:
                self._block = (sid, self._block[1] + payload)
            if flags & END_HEADERS:
                fields = [(k.decode() if isinstance(k, bytes) else k,
                           v.decode() if isinstance(v, bytes) else v)
                          for k, v in self.dec.decode(self._block[1], raw=True)]
                if dict(fields).get(":status", "").startswith("1"):
                    self.interim.setdefault(sid, []).append(fields)  # 100 Continue, say
                else:
                    self.heads.setdefault(sid, fields)
                self._block = None
            if flags & END_STREAM:
                self.ended.add(sid)
        elif ftype == DATA:
            self.data[sid] += len(payload)
            if flags & END_STREAM:
                self.ended.add(sid)
        elif ftype == RST_STREAM:
            self.resets[sid] = int.from_bytes(payload[:4], "big")
        elif ftype == GOAWAY:
            self.goaway = (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                           int.from_bytes(payload[4:8], "big"))
        elif ftype == SETTINGS and not flags & ACK:
            self.server_settings = {int.from_bytes(payload[i:i + 2], "big"):
                                    int.from_bytes(payload[i + 2:i + 6], "big")
                                    for i in range(0, len(payload), 6)}
            if self.ack_settings:
                self.send_flood(frame(SETTINGS, ACK, 0))
        elif ftype == WINDOW_UPDATE:
            self.window_updates[sid] += int.from_bytes(payload[:4], "big") & 0x7FFFFFFF

    def pump(self, timeout):
        """Reads what arrives within timeout; False once the connection ended."""
        if self.eof:
            return False
        self.sock.settimeout(max(timeout, 0.01))
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            return True
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        self._frames()
        return True

    def wait(self, pred, timeout=DEADLINE, what="condition"):
        """Reads until pred() holds; fails at the deadline, or if the connection ends first."""
        end = time.monotonic() + timeout
        while not pred():
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            if not self.pump(min(left, 0.5)) and not pred():
                raise AssertionError(f"connection ended while waiting for {what} "
                                     f"(goaway={self.goaway}, resets={self.resets})")

    def wait_closed(self, timeout=DEADLINE, what="the gateway to close the connection"):
        end = time.monotonic() + timeout
        while self.pump(max(end - time.monotonic(), 0)):
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        return True


def h2_get(host, port, path="/ok", authority="example.com", extra=()):
    """A well-formed HTTP/2 request with python-h2 on its own connection: (status, headers, body)."""
    sock = socket.create_connection((host, port), timeout=DEADLINE)
    try:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                    header_encoding="utf-8"))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_fields(path, authority=authority, extra=extra),
                          end_stream=True)
        sock.sendall(conn.data_to_send())
        status, hdrs, body = None, [], bytearray()
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            data = sock.recv(1 << 16)
            if not data:
                raise PeerClosed()
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    hdrs = list(ev.headers)
                    status = int(dict(hdrs)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    raise AssertionError(f"stream reset, code {ev.error_code}")
                elif isinstance(ev, h2.events.StreamEnded):
                    conn.close_connection()
                    sock.sendall(conn.data_to_send())
                    return status, hdrs, bytes(body)
            sock.sendall(conn.data_to_send())
        raise AssertionError("no whole h2 response within the deadline")
    finally:
        sock.close()


def h1_get(host, port, path="/ok"):
    with HttpConn(host, port) as c:
        return c.request("GET", path, "example.com", [("Connection", "close")])


def assert_serving(env):
    """The gateway goes on: another h2 connection and an HTTP/1.1 request get 200, alive."""
    status, _, body = h2_get(GW, env.port, "/after-h2")
    assert status == 200 and body == b"raw\n"
    r = h1_get(GW, env.port, "/after-h1")
    assert r.status == 200 and r.body == b"raw\n"
    assert env.gw.proc.check_alive()


class Env:
    def __init__(self, gw, port, raw):
        self.gw, self.port, self.raw = gw, port, raw

    def metrics(self):
        return self.gw.metrics()

    def metric(self, name):
        return self.metrics().get(name)

    def upstream_paths(self, complete_only=False):
        with self.raw.lock:
            return [r.path for r in self.raw.requests if r.complete or not complete_only]

    def raw_h2(self, **kw):
        return RawH2(GW, self.port, **kw)


@pytest.fixture
def make_env(procs):
    """A gateway on GW in front of a recording raw upstream, with the knobs a test gives. With
    upstream=(host, port), every path but /after... goes to that one instead."""
    def make(*knobs, upstream=None, route_timeout=None):
        raw = procs.raw_upstream(f"{NET}.20")
        docs = [service_doc("cluster-1", [(raw.host, raw.port)])]
        rules = [to_service(raw.port, timeout=route_timeout)]
        if upstream:
            other = "special.bookinfo.svc.cluster.local"
            docs.append(service_doc("cluster-1", [upstream], name="special", hostname=other))
            rules = [to_service(raw.port, match=[uri("prefix", "/after")]),
                     to_service(upstream[1], host=f"bookinfo/{other}", timeout=route_timeout)]
        port = free_port(GW)
        doc = yaml_docs(*docs, gateway_doc([server("h2", port, "*", rules)]))
        gw = procs.gateway(GW, {"gw.yaml": doc}, wait_ports=(port,), workers=1,
                           extra_args=list(knobs))
        return Env(gw, port, raw)
    return make


# ---------------------------------------------------------------- 1. rapid reset


def test_rapid_reset_gets_goaway_enhance_your_calm_and_others_are_served(make_env):
    env = make_env("--h2-max-resets", "50")
    with env.raw_h2() as c:
        # HEADERS then RST_STREAM CANCEL, 300 times in one write, nothing read meanwhile: the
        # limit is 50 a second, so even split over a second boundary this is past it
        flood = b""
        for i in range(300):
            sid = 2 * i + 1
            flood += frame(HEADERS, END_HEADERS | END_STREAM, sid,
                           c.enc.encode(request_fields(f"/rr/{i}")))
            flood += rst_frame(sid, CANCEL)
        c.send_flood(flood)
        c.wait(lambda: c.goaway is not None, what="GOAWAY")
        assert c.goaway[1] == ENHANCE_YOUR_CALM, c.goaway
        c.wait_closed()
    assert env.metric("crossgate_http2_goaway_calm_total") >= 1
    # the streams past the GOAWAY were not sent upstream
    assert len(env.upstream_paths()) < 300
    assert_serving(env)


def test_server_resets_the_client_provokes_count_as_rapid_reset(make_env):
    env = make_env("--h2-max-resets", "20")
    with env.raw_h2() as c:
        c.wait(lambda: c.server_settings is not None, what="the server's SETTINGS")
        sid = 1
        # batches of 50 (within the 100 streams at once): each batch is past 20 a second even
        # if a second boundary splits it
        for _ in range(4):
            batch = []
            for _ in range(50):
                c.send_flood(frame(HEADERS, END_HEADERS, sid, c.enc.encode(request_fields(
                    f"/myr/{sid}", method="POST", extra=[("content-length", "1")]))) +
                    frame(DATA, END_STREAM, sid, b"xx"))
                batch.append(sid)
                sid += 2
            c.wait(lambda: c.goaway is not None or all(s in c.resets for s in batch),
                   what="the batch's streams to be reset")
            if c.goaway is not None:
                break
        assert c.goaway is not None and c.goaway[1] == ENHANCE_YOUR_CALM, \
            (c.goaway, len(c.resets), env.metric("crossgate_upstream_cx_total"))
    assert_serving(env)


# ---------------------------------------------------------------- 2. CONTINUATION flood


CONTINUATION_FLOODS = [
    # 40 frames of ~15 KB of literal fields: well past the 64 KiB list (and its block on the
    # wire) if nothing stops it; the gateway's bound on the block ends it
    ("literal", (), b"".join(hpack_literal(f"x-junk-{i}", "j" * 200) for i in range(70)), 40,
     (ENHANCE_YOUR_CALM,)),
    # empty ones: nghttp2 ends the block after a few CONTINUATION frames (CVE-2024-28182) before
    # the gateway's empty-frame count does, a connection error the gateway counts as malformed
    ("empty", ("--h2-max-control-frames", "50"), b"", 5000, (ENHANCE_YOUR_CALM, PROTOCOL_ERROR)),
]


@pytest.mark.parametrize("case,knobs,payload,count,codes", CONTINUATION_FLOODS,
                         ids=[f[0] for f in CONTINUATION_FLOODS])
def test_continuation_flood_is_bounded(make_env, case, knobs, payload, count, codes):
    env = make_env(*knobs)
    path = f"/cont-{case}"
    with env.raw_h2() as c:
        c.wait(lambda: c.server_settings is not None, what="the server's SETTINGS")
        c.send(frame(HEADERS, 0, 1, c.enc.encode(request_fields(path))))  # no END_HEADERS
        cont = frame(CONTINUATION, 0, 1, payload)  # none with END_HEADERS either
        for _ in range(count // 100 or 1):
            if not c.send_flood(cont * min(count, 100)):
                break
        c.wait(lambda: c.goaway is not None, what="GOAWAY")
        assert c.goaway[1] in codes, c.goaway
        c.wait_closed()
    assert path not in env.upstream_paths()
    assert env.metric("crossgate_http2_goaway_calm_total") + \
        env.metric("crossgate_http2_malformed_total") >= 1
    assert_serving(env)


# ---------------------------------------------------------------- 3. HPACK bomb


def test_hpack_bomb_gets_431_and_the_connection_goes_on(make_env):
    env = make_env()  # 64 KiB of decoded header list
    with env.raw_h2() as c:
        c.wait(lambda: c.server_settings is not None, what="the server's SETTINGS")
        # a 4000-byte field into the dynamic table (index 62), then 2000 one-byte references to
        # it: about 5 KB on the wire, 8 MB decoded
        block = bytes([0x82, 0x86]) + hpack_literal(":path", "/bomb") + \
            hpack_literal(":authority", "example.com") + \
            hpack_literal("x-bomb", "b" * 4000, indexing=True) + bytes([0x80 | 62]) * 2000
        assert len(block) < 16384
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        c.wait(lambda: c.status(1) is not None or 1 in c.resets or c.goaway,
               what="the bomb's stream to be answered")
        assert c.status(1) == 431 or 1 in c.resets, (c.heads, c.resets, c.goaway)
        # the same connection serves a stream of its own next (its HPACK state is intact: the
        # gateway decoded the whole block even though it dropped it)
        if c.goaway is None:
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                         c.enc.encode(request_fields("/after-bomb"))))
            c.wait(lambda: 3 in c.ended, what="the next stream's response")
            assert c.status(3) == 200
    assert "/bomb" not in env.upstream_paths()
    assert_serving(env)


# ---------------------------------------------------------------- 4. control-frame floods


def _flood_gets_calm(env, make_flood, prologue=None):
    with env.raw_h2() as c:
        c.wait(lambda: c.server_settings is not None, what="the server's SETTINGS")
        if prologue:
            prologue(c)
        c.send_flood(make_flood(c))
        c.wait(lambda: c.goaway is not None, what="GOAWAY")
        assert c.goaway[1] == ENHANCE_YOUR_CALM, c.goaway
        c.wait_closed()
    assert env.metric("crossgate_http2_goaway_calm_total") >= 1
    assert_serving(env)


def test_ping_flood_gets_goaway_enhance_your_calm(make_env):
    env = make_env("--h2-max-control-frames", "50")
    _flood_gets_calm(env, lambda c: b"".join(frame(PING, 0, 0, struct.pack(">Q", i))
                                             for i in range(2000)))


def test_settings_flood_gets_goaway_enhance_your_calm(make_env):
    env = make_env("--h2-max-control-frames", "50")
    _flood_gets_calm(env, lambda c: settings_frame([(SETTINGS_INITIAL_WINDOW_SIZE, 65535)]) * 2000)


def test_empty_data_flood_gets_goaway_enhance_your_calm(make_env):
    env = make_env("--h2-max-control-frames", "50")

    def open_upload(c):
        # a POST whose body never ends: empty DATA frames are work that carries nothing
        c.headers(1, request_fields("/empty-data", method="POST"), end_stream=False)

    _flood_gets_calm(env, lambda c: frame(DATA, 0, 1) * 2000, prologue=open_upload)


def test_padded_empty_data_flood_gets_goaway_enhance_your_calm(make_env):
    env = make_env("--h2-max-control-frames", "50")

    def open_upload(c):
        c.headers(1, request_fields("/padded-data", method="POST"), end_stream=False)

    # PADDED with pad length 0: the frame's payload is the pad length byte; it carries no data
    _flood_gets_calm(env, lambda c: frame(DATA, 0x8, 1, b"\x00") * 2000, prologue=open_upload)


# ---------------------------------------------------------------- 5. zero-window stall


def test_zero_window_stall_is_ended_and_the_upstream_released(make_env):
    env = make_env("--idle-timeout", "2s")
    before = env.metrics()
    with env.raw_h2(settings=[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]) as c:
        c.headers(1, request_fields(f"/download/{64 * MIB}"))
        # the head is not flow-controlled and comes; no DATA can, and no WINDOW_UPDATE is sent
        c.wait(lambda: c.status(1) is not None, what="the response head")
        assert c.status(1) == 200
        c.wait(lambda: 1 in c.resets or c.goaway is not None or c.eof, timeout=DEADLINE + 5,
               what="the stalled stream to be ended")
        assert c.data[1] == 0
    wait_until(lambda: env.metric("crossgate_http2_stalled_total") >
               before.get("crossgate_http2_stalled_total"), what="the stall to be counted")
    # the upstream connection of the stalled stream is given up (not held open for the client)
    wait_until(lambda: env.metric("crossgate_upstream_cx_active") == 0,
               what="the stalled stream's upstream connection to be released")
    assert_serving(env)


# ---------------------------------------------------------------- 6. too many streams


def open_past_the_limit(c, n):
    """Opens n + 3 streams at once, each held by the upstream's gate; returns them, and the 3
    past the limit once they are refused (or the connection is told GOAWAY)."""
    sids = [2 * i + 1 for i in range(n + 3)]
    c.send(b"".join(frame(HEADERS, END_HEADERS | END_STREAM, sid,
                          c.enc.encode(request_fields(f"/s{sid}/gate"))) for sid in sids))
    extra = sids[n:]
    c.wait(lambda: all(s in c.resets for s in extra) or c.goaway is not None,
           what="the streams past the limit to be refused")
    return sids, extra


def test_streams_past_max_concurrent_are_refused_and_the_first_are_served(make_env):
    n = 5
    env = make_env("--h2-max-streams", str(n))
    # the client has not acknowledged the server's SETTINGS yet (it is allowed to send streams
    # before that): the streams past the limit are refused, the connection goes on
    with env.raw_h2(ack_settings=False) as c:
        sids, extra = open_past_the_limit(c, n)
        assert c.server_settings.get(SETTINGS_MAX_CONCURRENT_STREAMS) == n
        assert c.goaway is None, c.goaway
        assert all(c.resets[s] in (REFUSED_STREAM, PROTOCOL_ERROR) for s in extra), c.resets
        wait_until(lambda: len(env.upstream_paths()) == n, what="the first streams upstream")
        env.raw.gate.set()
        c.wait(lambda: all(s in c.ended for s in sids[:n]), what="the first streams' responses")
        assert [c.status(s) for s in sids[:n]] == [200] * n
        assert not any(s in c.resets for s in sids[:n])
    assert sorted(env.upstream_paths()) == sorted(f"/s{s}/gate" for s in sids[:n])
    assert_serving(env)


def test_streams_past_max_concurrent_after_settings_ack_are_refused(make_env):
    n = 5
    env = make_env("--h2-max-streams", str(n))
    with env.raw_h2() as c:
        # the client acknowledged the server's SETTINGS: its limit is in force, and a client
        # past it commits a connection error (RFC 9113 §5.1.2) or gets the streams refused
        c.wait(lambda: c.server_settings is not None, what="the server's SETTINGS")
        sids, extra = open_past_the_limit(c, n)
        if c.goaway is not None:
            assert c.goaway[1] == PROTOCOL_ERROR, c.goaway
        else:
            assert all(c.resets[s] in (REFUSED_STREAM, PROTOCOL_ERROR) for s in extra), c.resets
        env.raw.gate.set()
    assert not any(p in env.upstream_paths() for p in (f"/s{s}/gate" for s in sids[n:]))
    assert_serving(env)


# ---------------------------------------------------------------- 7. malformed requests

MALFORMED = [
    # connection-specific fields (RFC 9113 §8.2.2), and te other than trailers
    ("connection", dict(extra=[("connection", "keep-alive")])),
    ("keep-alive", dict(extra=[("keep-alive", "timeout=5")])),
    ("transfer-encoding", dict(extra=[("transfer-encoding", "chunked")])),
    ("upgrade", dict(extra=[("upgrade", "websocket")])),
    ("proxy-connection", dict(extra=[("proxy-connection", "keep-alive")])),
    ("te-gzip", dict(extra=[("te", "gzip")])),
    # names and values that could not be an HTTP/1.1 field line (§8.2.1)
    ("uppercase", dict(extra=[("X-Upper", "1")])),
    ("value-crlf", dict(extra=[("x-split", "a\r\nx-injected: 1")])),
    ("value-lf", dict(extra=[("x-split", "a\nx-injected: 1")])),
    ("value-nul", dict(extra=[("x-nul", "a\x00b")])),
    ("name-space", dict(extra=[("x bad", "1")])),
    ("name-colon", dict(extra=[("x:bad", "1")])),
    # pseudo-headers missing or unfit for a request line (§8.3.1), a Host naming another
    ("no-method", dict(method=None)),
    ("no-path", dict(path=None)),
    ("no-scheme", dict(scheme=None)),
    ("empty-path", dict(path="")),
    ("path-space", dict(path="/a b")),
    ("method-space", dict(method="GET /x")),
    ("host-differs", dict(extra=[("host", "other.example")])),
    ("two-hosts", dict(authority=None, extra=[("host", "a.example"), ("host", "b.example")])),
]


@pytest.mark.parametrize("case,kw", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_is_a_stream_error_never_forwarded(make_env, case, kw):
    env = make_env()
    kw = dict(kw)
    kw.setdefault("path", f"/bad/{case}")
    with env.raw_h2() as c:
        c.headers(1, request_fields(**kw))
        c.wait(lambda: 1 in c.resets or c.status(1) is not None or c.goaway,
               what="the malformed stream to be answered")
        assert c.resets.get(1) == PROTOCOL_ERROR, (c.resets, c.heads, c.goaway)
        # a stream error: the connection goes on with another stream
        c.headers(3, request_fields("/after-bad"))
        c.wait(lambda: 3 in c.ended, what="the next stream's response")
        assert c.status(3) == 200
    assert env.upstream_paths() == ["/after-bad"]
    assert_serving(env)


@pytest.mark.parametrize("declared,sent", [(10, 5), (5, 10)], ids=["short", "long"])
def test_content_length_that_does_not_match_the_data_resets_the_stream(make_env, declared, sent):
    env = make_env()
    with env.raw_h2() as c:
        c.headers(1, request_fields("/cl-mismatch", method="POST",
                                    extra=[("content-length", str(declared))]),
                  end_stream=False)
        c.send(frame(DATA, END_STREAM, 1, b"d" * sent))
        c.wait(lambda: 1 in c.resets or c.goaway, what="the stream to be reset")
        assert c.resets.get(1) == PROTOCOL_ERROR, c.resets
        c.headers(3, request_fields("/after-bad"))
        c.wait(lambda: 3 in c.ended, what="the next stream's response")
        assert c.status(3) == 200
    # the head may have gone upstream before the body proved it wrong, but never a whole request
    # (the upstream saw the body cut short: the upstream connection was given up)
    assert "/cl-mismatch" not in env.upstream_paths(complete_only=True)
    assert_serving(env)


def test_expect_100_continue_upload_gets_its_response(make_env):
    env = make_env()
    with env.raw_h2() as c:
        c.headers(1, request_fields("/expect", method="POST", extra=[
            ("content-length", "5"), ("expect", "100-continue")]), end_stream=False)
        # the head goes upstream before any body: the gateway is waiting for the body now
        wait_until(lambda: "/expect" in env.upstream_paths(), what="the head upstream")
        c.send(frame(DATA, END_STREAM, 1, b"hello"))
        wait_until(lambda: "/expect" in env.upstream_paths(complete_only=True),
                   what="the whole request upstream")
        c.wait(lambda: 1 in c.ended or 1 in c.resets, what="the response")
        assert c.status(1) == 200 and c.data[1] == 4
        # the gateway told the client to go on, as an interim HEADERS frame
        assert [dict(h)[":status"] for h in c.interim.get(1, [])] == ["100"]
    assert_serving(env)


def test_te_trailers_passes_and_is_not_forwarded(make_env):
    env = make_env()
    status, _, body = h2_get(GW, env.port, "/te", extra=[("te", "trailers")])
    assert status == 200 and body == b"raw\n"
    (req,) = env.raw.complete_requests()
    assert "te" not in req.header_names()


def test_cookie_crumbs_are_joined_into_one_field(make_env):
    env = make_env()
    with env.raw_h2() as c:
        c.headers(1, request_fields("/cookies", extra=[("cookie", "a=1"), ("cookie", "b=2")]))
        c.wait(lambda: 1 in c.ended, what="the response")
        assert c.status(1) == 200
    (req,) = env.raw.complete_requests()
    assert req.header_all("cookie") == ["a=1; b=2"]


def test_authority_becomes_host(make_env):
    env = make_env()
    status, _, _ = h2_get(GW, env.port, "/authority", authority="svc.example:8443")
    assert status == 200
    (req,) = env.raw.complete_requests()
    assert req.header_all("host") == ["svc.example:8443"]
    assert not any(k.startswith(":") for k, _ in req.headers)


# ---------------------------------------------------------------- 8. silent clients


@pytest.mark.parametrize("sent", [b"", PREFACE[:10], PREFACE],
                         ids=["nothing", "half-preface", "preface-only"])
def test_a_client_that_sends_nothing_is_closed_after_the_header_timeout(make_env, sent):
    env = make_env("--header-timeout", "1s")
    with env.raw_h2(preface=False, ack_settings=False) as c:
        if sent:
            c.send(sent)
        c.wait_closed(timeout=DEADLINE)
        assert c.heads == {} and not c.data
    wait_until(lambda: env.metric("crossgate_downstream_cx_active") == 0,
               what="the silent connection to be closed")
    assert_serving(env)


# ---------------------------------------------------------------- 9. backpressure


class ScriptedUpstream:
    """An HTTP/1.1 upstream in a few lines of Python: serve(sock) runs for each connection, in a
    thread of its own; rcvbuf/sndbuf: small socket buffers, so what the gateway holds shows."""

    def __init__(self, host, rcvbuf=None, sndbuf=None):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for opt, size in ((socket.SO_RCVBUF, rcvbuf), (socket.SO_SNDBUF, sndbuf)):
            if size:
                self.ls.setsockopt(socket.SOL_SOCKET, opt, size)
        self.ls.bind((host, 0))
        self.ls.listen(16)
        self.host, self.port = host, self.ls.getsockname()[1]
        self.socks = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            self.socks.append(s)
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            s.settimeout(30)
            self.serve(s)
        except OSError:
            pass

    @staticmethod
    def read_head(s):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise ConnectionError("closed before a whole head")
            buf += d
        return buf

    def serve(self, s):
        raise NotImplementedError

    def close(self):
        self.stop.set()
        self.ls.close()
        for s in self.socks:
            s.close()


class CountingUpstream(ScriptedUpstream):
    """Answers any request with a body of `size` bytes, counting what it manages to send; its send
    stops (and `blocked` is set) when the gateway stops reading."""

    def __init__(self, host, size):
        self.size = size
        self.sent = 0
        self.blocked = threading.Event()
        super().__init__(host, sndbuf=64 * 1024)

    def serve(self, s):
        self.read_head(s)
        s.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {self.size}\r\n\r\n".encode())
        # a send that makes no progress for a second: the gateway reads no more
        s.settimeout(1.0)
        block = b"z" * 65536
        while self.sent < self.size and not self.stop.is_set():
            try:
                self.sent += s.send(block[:min(len(block), self.size - self.sent)])
            except socket.timeout:
                self.blocked.set()


class SinkUpstream(ScriptedUpstream):
    """Accepts and never reads (small receive buffers)."""

    def __init__(self, host):
        super().__init__(host, rcvbuf=64 * 1024)

    def serve(self, s):
        pass


class PausingUpstream(ScriptedUpstream):
    """Sends a response head and half its body, then waits for `resume` before the rest (a long
    poll, or server-sent events between two events)."""

    BODY = b"first-half" + b"second-half"

    def __init__(self, host):
        self.resume = threading.Event()
        super().__init__(host)

    def serve(self, s):
        self.read_head(s)
        s.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {len(self.BODY)}\r\n\r\n".encode() +
                  self.BODY[:10])
        self.resume.wait(30)
        s.sendall(self.BODY[10:])
        s.recv(1)

    def close(self):
        self.resume.set()
        super().close()


@pytest.fixture
def pausing_upstream():
    up = PausingUpstream(f"{NET}.32")
    yield up
    up.close()


@pytest.fixture
def counting_upstream():
    up = CountingUpstream(f"{NET}.30", 64 * MIB)
    yield up
    up.close()


@pytest.fixture
def sink_upstream():
    up = SinkUpstream(f"{NET}.31")
    yield up
    up.close()


def test_a_slow_client_blocks_the_upstream_in_bounded_memory(make_env, counting_upstream):
    up = counting_upstream
    env = make_env(upstream=(up.host, up.port), route_timeout="60s")
    # warm the gateway's pools first, so the baseline is a serving gateway's
    with env.raw_h2() as w:
        w.headers(1, request_fields("/after-warm"))
        w.wait(lambda: 1 in w.ended, what="the warm-up response")
    up.blocked.clear()
    up.sent = 0
    base_kib = env.gw.proc.rss_kib()
    with env.raw_h2(settings=[(SETTINGS_INITIAL_WINDOW_SIZE, 16384)]) as c:
        c.headers(1, request_fields("/slow-client"))
        c.wait(lambda: c.status(1) is not None, what="the response head")
        # the client reads its frames here but never opens its window: the gateway may send it
        # 16 KiB, and must read no more of the upstream than its buffers hold
        assert up.blocked.wait(DEADLINE + 20), f"the upstream was never blocked ({up.sent} sent)"
        grown = env.gw.proc.rss_kib() - base_kib
        sent = up.sent
        c.pump(0.1)
        assert c.data[1] <= 16384
    print(f"upstream sent {sent} of {64 * MIB} bytes before blocking; gateway RSS grew {grown} KiB")
    assert sent < 16 * MIB, f"the gateway read {sent} bytes of the upstream's 64 MiB"
    assert grown < 4 * 1024, f"the gateway's RSS grew {grown} KiB"
    assert_serving(env)


def test_a_fast_upload_to_an_upstream_that_does_not_read_stops_the_client(make_env,
                                                                         sink_upstream):
    up = sink_upstream
    env = make_env(upstream=(up.host, up.port), route_timeout="60s")
    limit = 16 * MIB
    with env.raw_h2() as c:
        c.wait(lambda: c.server_settings is not None, what="the server's SETTINGS")
        c.headers(1, request_fields("/upload", method="POST"), end_stream=False)
        # RFC 9113 flow control as a client keeps it: 65535 at first for the stream and the
        # connection, plus what the server's WINDOW_UPDATEs give
        stream_init = c.server_settings.get(SETTINGS_INITIAL_WINDOW_SIZE, 65535)
        sent = 0
        chunk = b"u" * 16384
        stalled = False
        while sent < limit:
            window = min(stream_init + c.window_updates[1], 65535 + c.window_updates[0]) - sent
            if window > 0:
                n = min(window, len(chunk))
                c.send(frame(DATA, 0, 1, chunk[:n]))
                sent += n
                continue
            # no window: wait for the server to give some back; none for 3 s is the stall this
            # test is after (a deadline to stop waiting, not a timing claim)
            before = (c.window_updates[0], c.window_updates[1])
            end = time.monotonic() + 3
            while time.monotonic() < end and before == (c.window_updates[0], c.window_updates[1]):
                assert c.pump(0.2), f"the connection ended after {sent} bytes ({c.goaway})"
            if before == (c.window_updates[0], c.window_updates[1]):
                stalled = True
                break
        print(f"upload stalled after {sent} bytes")
        assert stalled, f"the client could send {sent} bytes to an upstream that reads nothing"
        assert sent < limit
    assert_serving(env)



# ---------------------------------------------------------------- timers and teardown


def test_a_stream_awaiting_a_slow_upstream_outlives_the_idle_timeout(make_env):
    env = make_env("--idle-timeout", "2s", route_timeout="30s")
    with env.raw_h2() as c:
        c.headers(1, request_fields("/slow/gate"))
        wait_until(lambda: "/slow/gate" in env.upstream_paths(), what="the request upstream")
        # a canary connection active after the slow request was sent: once the gateway closes
        # it for being idle, the slow request's connection has been quiet for longer than the
        # idle timeout too (one worker: its timers fire in deadline order)
        with env.raw_h2() as canary:
            canary.headers(1, request_fields("/after-canary"))
            canary.wait(lambda: 1 in canary.ended, what="the canary's response")
            canary.wait_closed(timeout=DEADLINE, what="the idle canary to be closed")
            assert canary.goaway is not None and canary.goaway[1] == NO_ERROR
        env.raw.gate.set()
        c.wait(lambda: 1 in c.ended or 1 in c.resets, what="the slow response")
        assert c.status(1) == 200 and 1 not in c.resets
    assert_serving(env)


def test_a_response_pausing_upstream_outlives_the_idle_timeout(make_env, pausing_upstream):
    up = pausing_upstream
    env = make_env("--idle-timeout", "2s", upstream=(up.host, up.port), route_timeout="30s")
    with env.raw_h2() as c:
        c.headers(1, request_fields("/events"))
        c.wait(lambda: c.data[1] == 10, what="the first half of the body")
        # as above: a canary active after the pause began, closed for being idle
        with env.raw_h2() as canary:
            canary.headers(1, request_fields("/after-canary"))
            canary.wait(lambda: 1 in canary.ended, what="the canary's response")
            canary.wait_closed(timeout=DEADLINE, what="the idle canary to be closed")
            assert canary.goaway is not None and canary.goaway[1] == NO_ERROR
        up.resume.set()
        c.send(window_update(0, 1 << 20))  # room enough: the window is never the reason
        c.wait(lambda: 1 in c.ended or 1 in c.resets, what="the rest of the response")
        assert 1 not in c.resets, c.resets
        assert c.data[1] == len(up.BODY)
    assert_serving(env)


def test_streams_reset_mid_response_and_a_dropped_connection_leave_the_gateway_serving(make_env):
    env = make_env()
    for round_ in range(3):
        c = env.raw_h2()
        sids = [2 * i + 1 for i in range(20)]
        c.send(b"".join(frame(HEADERS, END_HEADERS | END_STREAM, sid,
                              c.enc.encode(request_fields(f"/download/{4 * MIB}")))
                        for sid in sids) + window_update(0, 1 << 30))
        c.wait(lambda: sum(1 for s in sids if s in c.heads) >= 10, what="responses to begin")
        # half of them reset while their bodies flow, the rest cut off with the connection
        c.send_flood(b"".join(rst_frame(s, CANCEL) for s in sids[::2]) +
                     b"".join(window_update(s, 1 << 20) for s in sids[1::2]))
        c.pump(0.2)
        if round_ == 2:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # with unread data: a reset for the gateway's side
    wait_until(lambda: env.metric("crossgate_downstream_cx_http2_active") == 0,
               what="the dropped connections to be closed")
    wait_until(lambda: env.metric("crossgate_upstream_cx_active") == 0,
               what="their upstream connections to be given up")
    assert_serving(env)
