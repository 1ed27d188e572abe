"""Replays the conformance case files (requests.txt, responses.txt) through a proxy and judges.

Shared by tests/e2e/test_conformance.py (crossgate, as a test) and bench/conformance.py
(crossgate, HAProxy and nginx side by side, as a report). stdlib only.

* load_cases(path) parses a case file (the format is documented at the top of each file).
* RecordingUpstream records every byte of every connection, parses them with strict.py as
  they arrive and answers each request `200`, `content-length: 2`, `ok`.
* ScriptedUpstream answers every request with the armed case's raw bytes.
* run_request_case / run_response_case send one case in one write, read the answer, and, for
  requests, send a barrier request through the same proxy: once the barrier has reached the
  recording upstream and the upstream has drained every socket, everything the proxy sent for
  the case has been seen, so "the upstream received nothing" is checked without sleeping.
* judge_request / judge_response return a Verdict: the observed class (reject / accept /
  normalise / unclean / no-answer), whether the case's expectation holds, and why not.
"""

import os
import re
import selectors
import socket
import threading
import time

from strict import Incomplete, StrictError, parse_request, parse_requests, parse_response

HERE = os.path.dirname(os.path.abspath(__file__))
REQUESTS_FILE = os.path.join(HERE, "requests.txt")
RESPONSES_FILE = os.path.join(HERE, "responses.txt")

# Seconds: a client waits this long for the proxy's answer to one case; the barrier and the
# closing of an upstream connection get their own deadlines. Nothing here sleeps to synchronise.
CLIENT_DEADLINE = 2.0
BARRIER_DEADLINE = 3.0
CLOSE_DEADLINE = 3.0

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
              "transfer-encoding"}
# Headers a proxy adds on the way; they are not "changes" to the client's message.
PROXY_ADDED = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
               "x-real-ip", "forwarded", "via", "x-crossgate-hops", "x-request-id"}
RESPONSE_ADDED = {"date", "server", "via", "x-request-id", "content-length", "transfer-encoding"}


# ---------------------------------------------------------------- case files

class CaseError(Exception):
    pass


class UpExpect:
    """What one request received by the upstream must look like."""

    def __init__(self):
        self.method = None
        self.target = None
        self.headers = []      # [(name, value)]: the combined value must equal value
        self.no_headers = []   # absent from headers and trailers
        self.has_headers = []  # present, any value
        self.body = None       # exact decoded body, or None (not checked)
        self.no_chunk_ext = False  # chunk extensions must not be forwarded


class Case:
    def __init__(self, name, kind, lineno):
        self.name, self.kind, self.lineno = name, kind, lineno
        self.sources, self.notes = [], []
        self.data = b""
        self.expect = None      # 'reject' | 'accept' | 'normalise'
        self.status = None      # reject: int, or None with close=True
        self.close = False
        self.crossgate_only = False
        self.ups = []
        self.count = None
        # responses
        self.request_method = "GET"
        self.upstream_close = False
        self.client_status = None
        self.client_headers, self.client_no_headers = [], []
        self.client_body = None
        self.client_interim = 0

    def up_count(self):
        return self.count if self.count is not None else max(1, len(self.ups))

    def __repr__(self):
        return f"<Case {self.name} {self.expect}>"


def unescape(text):
    """Case-file bytes: ASCII text with \\r \\n \\t \\0 \\\\ \\xHH and \\{N:TEXT} (TEXT,
    itself unescaped and possibly holding further \\{..}, repeated N times)."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise CaseError(f"non-ASCII character in {text[:40]!r}: write bytes as \\xHH") from None
    out, _ = _unescape(raw, 0, False)
    return out


def _unescape(raw, pos, nested):
    out = bytearray()
    simple = {0x72: b"\r", 0x6E: b"\n", 0x74: b"\t", 0x30: b"\0", 0x5C: b"\\"}
    while pos < len(raw):
        ch = raw[pos]
        if nested and ch == 0x7D:  # "}" closes a repeat
            return bytes(out), pos + 1
        if ch != 0x5C:
            out.append(ch)
            pos += 1
            continue
        nxt = raw[pos + 1] if pos + 1 < len(raw) else None
        if nxt in simple:
            out += simple[nxt]
            pos += 2
        elif nxt == 0x78 and re.fullmatch(rb"[0-9A-Fa-f]{2}", raw[pos + 2:pos + 4]):
            out.append(int(raw[pos + 2:pos + 4], 16))
            pos += 4
        elif nxt == 0x7B:
            m = re.match(rb"\\\{(\d+):", raw[pos:])
            if not m:
                raise CaseError(f"bad repeat at {raw[pos:pos + 12]!r}")
            inner, pos = _unescape(raw, pos + m.end(), True)
            out += inner * int(m.group(1))
        else:
            raise CaseError(f"bad escape at {raw[pos:pos + 8]!r}")
    if nested:
        raise CaseError("unterminated \\{N:...}")
    return bytes(out), pos


def _split_name_value(rest, where):
    name, _, value = rest.partition(" ")
    if not name:
        raise CaseError(f"{where}: a header name is needed")
    return name, unescape(value).decode("latin-1")


def load_cases(path, kind=None):
    """[Case] from a case file; kind 'request' or 'response' (default: from the file name)."""
    kind = kind or ("response" if "response" in os.path.basename(path) else "request")
    cases, names, cur = [], set(), None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        where = f"{os.path.basename(path)}:{n}"
        if line.endswith("\r"):
            raise CaseError(f"{where}: CRLF line ending in the case file")
        if cur is None:
            if not line.strip() or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            if word != "case" or not re.fullmatch(r"[a-z0-9_]+", rest):
                raise CaseError(f"{where}: expected 'case NAME' (NAME of [a-z0-9_]), got {line!r}")
            if rest in names:
                raise CaseError(f"{where}: duplicate case name {rest}")
            names.add(rest)
            cur = Case(rest, kind, n)
            continue
        if line.startswith("#"):
            continue
        word, sep, rest = line.partition(" ")
        try:
            if word == "end":
                _finish(cur, where)
                cases.append(cur)
                cur = None
            elif word == "source":
                cur.sources.append(rest)
            elif word == "note":
                cur.notes.append(rest)
            elif word == "crossgate-only":
                cur.crossgate_only = True
            elif word == "in":
                cur.data += unescape(rest)
            elif word == "expect":
                what, _, arg = rest.partition(" ")
                if what == "reject":
                    if arg == "close":
                        cur.close = True
                    elif re.fullmatch(r"[1-5][0-9]{2}", arg):
                        cur.status = int(arg)
                    else:
                        raise CaseError("expect reject STATUS|close")
                elif what not in ("accept", "normalise") or arg:
                    raise CaseError(f"unknown expectation {rest!r}")
                cur.expect = what
            elif word.startswith("up-"):
                if kind != "request":
                    raise CaseError(f"{word} in a response case")
                if word == "up-count":
                    cur.count = int(rest)
                    continue
                if word == "up-next":
                    cur.ups.append(UpExpect())
                    continue
                if not cur.ups:
                    cur.ups.append(UpExpect())
                u = cur.ups[-1]
                if word == "up-method":
                    u.method = rest
                elif word == "up-target":
                    u.target = unescape(rest).decode("latin-1")
                elif word == "up-header":
                    u.headers.append(_split_name_value(rest, where))
                elif word == "up-no-header":
                    u.no_headers.append(rest)
                elif word == "up-has-header":
                    u.has_headers.append(rest)
                elif word == "up-body":
                    u.body = unescape(rest)
                elif word == "up-no-chunk-ext":
                    u.no_chunk_ext = True
                else:
                    raise CaseError(f"unknown field {word}")
            elif word in ("request-method", "upstream-close") or word.startswith("client-"):
                if kind != "response":
                    raise CaseError(f"{word} in a request case")
                if word == "request-method":
                    cur.request_method = rest
                elif word == "upstream-close":
                    cur.upstream_close = True
                elif word == "client-status":
                    cur.client_status = int(rest)
                elif word == "client-header":
                    cur.client_headers.append(_split_name_value(rest, where))
                elif word == "client-no-header":
                    cur.client_no_headers.append(rest)
                elif word == "client-body":
                    cur.client_body = unescape(rest)
                elif word == "client-interim":
                    cur.client_interim = int(rest)
                else:
                    raise CaseError(f"unknown field {word}")
            else:
                raise CaseError(f"unknown line {line!r}")
        except CaseError as e:
            raise CaseError(f"{where}: case {cur.name}: {e}") from None
        except ValueError as e:
            raise CaseError(f"{where}: case {cur.name}: {e}") from None
    if cur is not None:
        raise CaseError(f"{path}: case {cur.name} has no 'end'")
    return cases


def _finish(c, where):
    if not c.sources:
        raise CaseError("no 'source' line: every case cites where it comes from")
    if not c.data:
        raise CaseError("no 'in' bytes")
    if c.expect is None:
        raise CaseError("no 'expect' line")
    if c.expect == "reject" and (c.ups or c.count or c.client_headers or c.client_body is not None):
        raise CaseError("a rejected case cannot have up-*/client-* fields")
    if c.kind == "response" and c.expect != "reject" and c.client_status is None:
        c.client_status = 200


# ---------------------------------------------------------------- upstreams

class _Conn:
    def __init__(self, cid, sock):
        self.id, self.sock = cid, sock
        self.buf = bytearray()
        self.pos = 0            # end of the last complete message
        self.msgs = []          # [(start, end, Message, arrival sequence number)]
        self.error = None       # (offset, text, label of the case armed then)
        self.eof = False        # the peer (the proxy) closed
        self.closed = False     # we closed it
        self.served = []        # response upstream: labels of the cases answered on it


class _LoopServer:
    """One thread, one selector, every connection: a sync() drains every readable socket, so
    data written by the proxy before an observed event has been read when sync() returns."""

    def __init__(self, host, port=0):
        self.lock = threading.RLock()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(128)
        self.lsock.setblocking(False)
        self.host, self.port = self.lsock.getsockname()
        self.conns = {}
        self.next_id = 1
        self.seq = 0  # messages in arrival order, across connections
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, "listen")
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self._stop = False
        self._sync_req = 0
        self._sync_done = 0
        self._cv = threading.Condition(self.lock)
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"upstream-{self.port}")
        self.thread.start()

    def close(self):
        self._stop = True
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass
        self.thread.join(5)
        for c in list(self.conns.values()):
            if not c.closed:
                c.sock.close()
        self.lsock.close()
        self.wake_r.close()
        self.wake_w.close()
        self.sel.close()

    def sync(self, timeout=BARRIER_DEADLINE):
        """Returns once the loop has read everything already queued on every socket."""
        with self._cv:
            self._sync_req += 1
            want = self._sync_req
        self.wake_w.send(b"s")
        with self._cv:
            if not self._cv.wait_for(lambda: self._sync_done >= want, timeout):
                raise AssertionError("upstream loop did not drain in time")

    def _run(self):
        while not self._stop:
            events = self.sel.select(0.5)
            with self.lock:
                self._handle(events)
                if self._sync_req > self._sync_done:
                    want = self._sync_req
                    while True:  # zero-timeout passes until nothing is readable
                        ev = [e for e in self.sel.select(0) if e[0].data != "wake"]
                        if not ev:
                            break
                        self._handle(ev)
                    self._sync_done = want
                    self._cv.notify_all()

    def _handle(self, events):
        for key, _ in events:
            if key.data == "wake":
                try:
                    while self.wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
            elif key.data == "listen":
                while True:
                    try:
                        s, _ = self.lsock.accept()
                    except (BlockingIOError, OSError):
                        break
                    s.settimeout(2.0)  # sends are small; recv only when readable
                    c = _Conn(self.next_id, s)
                    self.next_id += 1
                    self.conns[c.id] = c
                    self.sel.register(s, selectors.EVENT_READ, c)
            else:
                c = key.data
                try:
                    data = c.sock.recv(1 << 20)
                except (OSError, socket.timeout):
                    data = b""
                if not data:
                    c.eof = True
                    self._drop(c)
                    continue
                c.buf += data
                self._parse(c)

    def _drop(self, c):
        if not c.closed:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
            c.closed = True
            self._cv.notify_all()  # called with the lock held, from the loop thread

    def _parse(self, c):
        while c.error is None and not c.closed and c.pos < len(c.buf):
            try:
                msg, end = parse_request(c.buf, c.pos)
            except Incomplete:
                return
            except StrictError as e:
                c.error = (c.pos, str(e), self._label())
                self._drop(c)  # the proxy sees the connection go; never guess at framing
                return
            start, c.pos = c.pos, end
            self.seq += 1
            c.msgs.append((start, end, msg, self.seq))
            self._respond(c, msg)

    def _respond(self, c, msg):
        raise NotImplementedError

    def _label(self):
        return None


class RecordingUpstream(_LoopServer):
    """Answers each strictly parsed request 200 `ok`; keeps every byte per connection."""

    def _respond(self, c, msg):
        body = b"" if msg.method == "HEAD" else b"ok"
        try:
            c.sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n" + body)
        except OSError:
            self._drop(c)
            return
        if (msg.header("connection") or "").lower() == "close" or msg.version == "1.0":
            self._drop(c)

    def mark(self):
        with self.lock:
            return ({cid: len(c.buf) for cid, c in self.conns.items()}, self.next_id)

    def saw(self, target):
        with self.lock:
            return any(m.target == target for c in self.conns.values() for _, _, m, _ in c.msgs)

    def collect(self, token, barrier_target=None):
        """What arrived since mark() and before the barrier request: per connection the raw
        bytes, the clean messages, a strict-parse error if any, and unparsed leftovers."""
        bases, next_id = token
        out = Observed()
        ordered = []
        with self.lock:
            for cid, c in sorted(self.conns.items()):
                base = bases.get(cid, 0) if cid < next_id else 0
                stop = len(c.buf)
                for start, _, m, _ in c.msgs:
                    if barrier_target and m.target == barrier_target and start >= base:
                        stop = start
                        break
                if stop <= base:
                    continue
                out.raw[cid] = bytes(c.buf[base:stop])
                for start, end, m, seq in c.msgs:
                    if start >= base and end <= stop:
                        ordered.append((seq, m))
                parsed_to = max([end for _, end, _, _ in c.msgs if end <= stop] + [base])
                if c.error and base <= c.error[0] < stop:
                    out.errors.append(f"conn {cid}: {c.error[1]}")
                elif parsed_to < stop:
                    out.partial.append(f"conn {cid}: {stop - parsed_to} unparsed bytes "
                                       f"{bytes(c.buf[parsed_to:stop])[:120]!r}")
        out.msgs = [m for _, m in sorted(ordered, key=lambda x: x[0])]
        return out


class Observed:
    def __init__(self):
        self.raw = {}
        self.msgs = []
        self.errors = []
        self.partial = []

    def nbytes(self):
        return sum(len(b) for b in self.raw.values())

    def sample(self):
        joined = b"".join(self.raw.values())
        return repr(joined[:200]) + ("..." if len(joined) > 200 else "")


class ScriptedUpstream(_LoopServer):
    """Answers each request with the armed case's bytes (then half-closes if asked to)."""

    def __init__(self, host, port=0):
        self.script = None  # (label, bytes, close_after)
        super().__init__(host, port)

    def arm(self, label, data, close_after):
        with self.lock:
            self.script = (label, data, close_after)

    def disarm(self):
        with self.lock:
            self.script = None

    def _label(self):
        return self.script[0] if self.script else None

    def _respond(self, c, msg):
        if self.script is None:
            self._drop(c)
            return
        label, data, close_after = self.script
        c.served.append(label)
        try:
            c.sock.sendall(data)
            if close_after:
                c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(c)

    def wait_closed(self, label, timeout):
        """Waits (on the loop's condition, no polling) until every connection that answered
        for label has been closed by the proxy, or the timeout passes."""
        def done():
            return all(c.eof or c.closed for c in self.conns.values() if label in c.served)
        with self._cv:
            return self._cv.wait_for(done, timeout)

    def connections_for(self, label):
        with self.lock:
            return [(c.id, list(c.served), c.eof or c.closed, c.error)
                    for c in self.conns.values() if label in c.served]

    def errors_for(self, label):
        with self.lock:
            return [f"conn {c.id}: {c.error[1]}" for c in self.conns.values()
                    if c.error and c.error[2] == label]


# ---------------------------------------------------------------- client side

class ClientResult:
    def __init__(self):
        self.raw = b""
        self.responses = []   # final responses, strictly parsed
        self.interim = []     # 1xx responses
        self.error = None     # strict-parse error of what the client received
        self.closed = False   # the proxy closed the connection
        self.timed_out = False


def exchange(host, port, data, methods=("GET",), want=1, source=None, deadline=CLIENT_DEADLINE):
    """Sends data in one write and reads until `want` final responses were strictly parsed,
    the proxy closed, or the deadline passed (want=0: read until close or deadline)."""
    r = ClientResult()
    s = socket.create_connection((host, port), timeout=deadline,
                                 source_address=(source, 0) if source else None)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.sendall(data)
        except OSError:
            pass  # the proxy may close before reading everything; read what it said
        buf, pos = bytearray(), 0
        end = time.monotonic() + deadline

        def parse(eof):
            nonlocal pos
            while r.error is None and pos < len(buf) and (want == 0 or len(r.responses) < want):
                i = len(r.responses)
                method = methods[i] if i < len(methods) else methods[-1]
                try:
                    msg, pos2 = parse_response(buf, pos, method=method, eof=eof)
                except Incomplete:
                    return
                except StrictError as e:
                    r.error = str(e)
                    return
                pos = pos2
                (r.interim if msg.status < 200 else r.responses).append(msg)

        while True:
            if want and len(r.responses) >= want or r.error:
                break
            left = end - time.monotonic()
            if left <= 0:
                r.timed_out = True
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                r.timed_out = True
                break
            except OSError:
                chunk = b""
            if not chunk:
                r.closed = True
                parse(eof=True)
                break
            buf += chunk
            parse(eof=False)
        r.raw = bytes(buf)
    finally:
        s.close()
    return r


# ---------------------------------------------------------------- running cases

class Proxy:
    """Where a case goes: the proxy's request-case port and its response-case port."""

    def __init__(self, name, host, req_port, resp_port, source=None):
        self.name, self.host = name, host
        self.req_port, self.resp_port = req_port, resp_port
        self.source = source or "127.0.0.1"


class RequestOutcome:
    def __init__(self):
        self.client = None
        self.up = None
        self.barrier_error = None


_barrier_seq = [0]


def barrier(proxy, upstream):
    """A valid request through the proxy to the recording upstream; once it is back and the
    upstream has drained, whatever the proxy forwarded for the previous case has arrived."""
    _barrier_seq[0] += 1
    target = f"/__barrier/{os.getpid()}/{_barrier_seq[0]}"
    req = (f"GET {target} HTTP/1.1\r\nHost: barrier.test\r\nConnection: close\r\n\r\n").encode()
    last = None
    for _ in range(2):  # one retry: a pooled connection the case broke may fail once
        try:
            r = exchange(proxy.host, proxy.req_port, req, source=proxy.source,
                         deadline=BARRIER_DEADLINE)
        except OSError as e:
            last = f"barrier connect failed: {e}"
            continue
        if r.responses and r.responses[0].status == 200 and upstream.saw(target):
            upstream.sync()
            return target, None
        last = (f"barrier request got {r.responses[0].status if r.responses else 'no response'}"
                f"{' ' + r.error if r.error else ''}")
    upstream.sync()
    return target, last


def run_request_case(case, proxy, upstream):
    out = RequestOutcome()
    token = upstream.mark()
    methods = [u.method or "GET" for u in case.ups] or ["GET"]
    want = 0 if case.close else (case.up_count() if case.expect != "reject" else 1)
    try:
        out.client = exchange(proxy.host, proxy.req_port, case.data, methods, want, proxy.source)
    except OSError as e:
        out.client = ClientResult()
        out.client.error = f"connect failed: {e}"
    target, out.barrier_error = barrier(proxy, upstream)
    out.up = upstream.collect(token, target)
    return out


class ResponseOutcome:
    def __init__(self):
        self.client = None
        self.conns = []        # [(id, served labels, closed, error)]
        self.up_errors = []
        self.label = None


def run_response_case(case, proxy, scripted):
    out = ResponseOutcome()
    out.label = label = f"{case.name}#{time.monotonic_ns()}"
    scripted.arm(label, case.data, case.upstream_close)
    try:
        req = (f"{case.request_method} /resp/{case.name} HTTP/1.1\r\nHost: resp.test\r\n\r\n").encode()
        try:
            out.client = exchange(proxy.host, proxy.resp_port, req, (case.request_method,), 1,
                                  proxy.source)
        except OSError as e:
            out.client = ClientResult()
            out.client.error = f"connect failed: {e}"
        got = out.client.responses[0].status if out.client.responses else None
        if case.expect == "reject" and got is not None and got >= 500:
            # the connection that carried a rejected response must be closed, never reused
            scripted.wait_closed(label, CLOSE_DEADLINE)
        scripted.sync()
        out.conns = scripted.connections_for(label)
        out.up_errors = scripted.errors_for(label)
    finally:
        scripted.disarm()
    return out


# ---------------------------------------------------------------- judging

class Verdict:
    def __init__(self, cls, ok, reason=""):
        self.cls, self.ok, self.reason = cls, ok, reason

    def label(self):
        return self.cls if self.ok else f"FAIL:{self.reason}"

    def __repr__(self):
        return f"<Verdict {self.label()}>"


def _nominated(msg):
    return {t.strip().lower() for v in msg.header_all("connection") for t in v.split(",") if t.strip()}


def request_changes(c, u):
    """How the upstream's request u differs from the client's (strictly parsed) request c,
    ignoring what a proxy adds and hop-by-hop fields. [] means forwarded unchanged."""
    diffs = []
    if c.method != u.method:
        diffs.append(f"method {c.method} -> {u.method}")
    if c.target != u.target:
        diffs.append(f"target {c.target!r} -> {u.target!r}")
    skip = HOP_BY_HOP | {"content-length"} | _nominated(c)
    added = PROXY_ADDED - ({"x-request-id"} if c.header_all("x-request-id") else set())

    def fields(m):
        return sorted((k.lower(), v) for k, v in m.headers if k.lower() not in skip | added)

    fc, fu = fields(c), fields(u)
    if fc != fu:
        gone = [f for f in fc if f not in fu]
        new = [f for f in fu if f not in fc]
        diffs.append(f"headers removed {gone} added {new}")
    kind = {"none": "length"}
    if kind.get(c.framing, c.framing) != kind.get(u.framing, u.framing):
        diffs.append(f"framing {c.framing} -> {u.framing}")
    if c.body != u.body:
        diffs.append(f"body {c.body[:40]!r} -> {u.body[:40]!r}")
    if sorted(c.trailers) != sorted(u.trailers):
        diffs.append(f"trailers {c.trailers} -> {u.trailers}")
    if c.chunk_exts and not u.chunk_exts:
        diffs.append("chunk extensions dropped")
    return diffs


def _check_up(u, m, i, peer):
    where = f"upstream request {i + 1}"
    if u.method is not None and m.method != u.method:
        return f"{where} method {m.method!r}, want {u.method!r}"
    if u.target is not None and m.target != u.target:
        return f"{where} target {m.target!r}, want {u.target!r}"
    for name, value in u.headers:
        value = value.replace("{peer}", peer)
        got = m.header(name)
        if got != value:
            return f"{where} {name}: {got!r}, want {value!r}"
    for name in u.has_headers:
        if m.header(name) is None:
            return f"{where} has no {name}"
    for name in u.no_headers:
        if m.header(name) is not None or m.trailer_all(name):
            return f"{where} carries {name}: {m.header(name) or m.trailer_all(name)!r}"
    if u.body is not None and m.body != u.body:
        return f"{where} body {m.body[:60]!r}, want {u.body[:60]!r}"
    if u.no_chunk_ext and m.chunk_exts:
        return f"{where} carries chunk extensions {m.chunk_exts}"
    return None


def classify_request(case, out):
    """(class, detail): what the proxy did, whatever the case expected."""
    up, cl = out.up, out.client
    if out.barrier_error:
        return "broken", out.barrier_error
    if up.errors:
        return "unclean", "upstream got unclean bytes: " + "; ".join(up.errors)
    if up.partial:
        return "unclean", "upstream got an incomplete message: " + "; ".join(up.partial)
    if up.nbytes() == 0:
        if cl.error:
            return "unclean", f"client got unclean bytes: {cl.error}"
        if cl.responses and cl.responses[0].status >= 400:
            return "reject", str(cl.responses[0].status)
        if not cl.responses and cl.closed:
            return "reject", "close"
        if cl.responses:
            return "no-answer", f"client got {cl.responses[0].status} but nothing reached upstream"
        return "no-answer", "no response within the deadline, nothing upstream"
    try:
        sent = parse_requests(case.data)
    except (StrictError, Incomplete):
        return "normalise", "the client's bytes are not a clean message; the upstream's are"
    if len(sent) != len(up.msgs):
        return "normalise", f"{len(sent)} request(s) sent, {len(up.msgs)} forwarded"
    changes = [d for c, u in zip(sent, up.msgs) for d in request_changes(c, u)]
    if changes:
        return "normalise", "; ".join(changes)
    return "accept", ""


def judge_request(case, out, peer="127.0.0.1"):
    cls, detail = classify_request(case, out)
    cl = out.client
    if cls in ("broken", "unclean", "no-answer"):
        return Verdict(cls, False, detail)
    if case.expect == "reject":
        if cls != "reject":
            return Verdict(cls, False, f"{cls}: upstream received {out.up.nbytes()} bytes "
                                       f"{out.up.sample()} ({detail})")
        if case.close:
            if detail != "close":
                return Verdict(cls, False, f"reject {detail}, want close without response")
        elif detail != str(case.status):
            return Verdict(cls, False, f"reject {detail}, want {case.status}")
        return Verdict(cls, True)
    # accept / normalise
    if cls == "reject":
        return Verdict(cls, False, f"rejected with {detail}, want {case.expect}")
    msgs = out.up.msgs
    if len(msgs) != case.up_count():
        return Verdict(cls, False, f"upstream received {len(msgs)} request(s), want "
                                   f"{case.up_count()}: {[f'{m.method} {m.target}' for m in msgs]}")
    for i, u in enumerate(case.ups):
        err = _check_up(u, msgs[i], i, peer)
        if err:
            return Verdict(cls, False, err)
    if cl.error:
        return Verdict(cls, False, f"client got unclean bytes: {cl.error}")
    if len(cl.responses) != case.up_count() or any(r.status != 200 for r in cl.responses):
        return Verdict(cls, False, f"client got {[r.status for r in cl.responses]}, want "
                                   f"{case.up_count()} x 200")
    if case.expect == "accept" and cls != "accept":
        return Verdict(cls, False, f"normalised, want unchanged: {detail}")
    return Verdict(cls, True)


def response_changes(sent, got):
    diffs = []
    if sent.status != got.status:
        diffs.append(f"status {sent.status} -> {got.status}")
    skip = HOP_BY_HOP | RESPONSE_ADDED | _nominated(sent)

    def fields(m):
        return sorted((k.lower(), v) for k, v in m.headers if k.lower() not in skip)

    if fields(sent) != fields(got):
        diffs.append(f"headers {fields(sent)} -> {fields(got)}")
    if sent.framing != got.framing:
        diffs.append(f"framing {sent.framing} -> {got.framing}")
    if sent.body != got.body:
        diffs.append(f"body {sent.body[:40]!r} -> {got.body[:40]!r}")
    if sent.trailers != got.trailers:
        diffs.append("trailers dropped")
    if sent.chunk_exts and not got.chunk_exts:
        diffs.append("chunk extensions dropped")
    return diffs


def _scripted_final(case):
    """The final response the case's bytes hold, strictly parsed, or None if unclean."""
    buf, pos, interim = case.data, 0, 0
    try:
        while True:
            msg, pos = parse_response(buf, pos, method=case.request_method,
                                      eof=case.upstream_close)
            if msg.status >= 200:
                return msg, interim
            interim += 1
    except (StrictError, Incomplete):
        return None, 0


def classify_response(case, out):
    cl = out.client
    if cl.error:
        return "unclean", f"client got unclean bytes: {cl.error}"
    if not cl.responses:
        return "no-answer", ("connection closed" if cl.closed else "timed out") + " without a response"
    got = cl.responses[0]
    if got.status == 502 or (got.status >= 500 and case.expect == "reject"):
        return "reject", str(got.status)
    sent, interim = _scripted_final(case)
    if sent is None:
        return "normalise", "the upstream's bytes are not a clean response; the client's are"
    changes = response_changes(sent, got)
    if interim != len(cl.interim):
        changes.append(f"{interim} interim response(s) sent, {len(cl.interim)} forwarded")
    return ("normalise", "; ".join(changes)) if changes else ("accept", "")


def judge_response(case, out):
    cls, detail = classify_response(case, out)
    cl = out.client
    if out.up_errors:
        return Verdict(cls, False, "proxy sent an unclean request upstream: " + "; ".join(out.up_errors))
    if cls in ("unclean", "no-answer"):
        return Verdict(cls, False, detail)
    if case.expect == "reject":
        if cls != "reject":
            return Verdict(cls, False, f"{cls}: client got {cl.responses[0].status}, want "
                                       f"{case.status} ({detail})")
        if detail != str(case.status):
            return Verdict(cls, False, f"reject {detail}, want {case.status}")
        reused = [cid for cid, served, _, _ in out.conns if served[-1] != out.label]
        if reused:
            return Verdict(cls, False, f"upstream connection {reused} reused after a rejected response")
        still_open = [cid for cid, _, closed, _ in out.conns if not closed]
        if still_open:
            return Verdict(cls, False, f"upstream connection {still_open} left open after the "
                                       f"rejected response ({CLOSE_DEADLINE}s)")
        return Verdict(cls, True)
    got = cl.responses[0]
    if cls == "reject" and got.status != case.client_status:
        return Verdict(cls, False, f"rejected with {got.status}, want {case.expect}")
    if got.status != case.client_status:
        return Verdict(cls, False, f"client status {got.status}, want {case.client_status}")
    if len(cl.interim) != case.client_interim:
        return Verdict(cls, False, f"client got {len(cl.interim)} interim response(s) "
                                   f"{[m.status for m in cl.interim]}, want {case.client_interim}")
    for name, value in case.client_headers:
        if got.header(name) != value:
            return Verdict(cls, False, f"client {name}: {got.header(name)!r}, want {value!r}")
    for name in case.client_no_headers:
        if got.header(name) is not None or got.trailer_all(name):
            return Verdict(cls, False, f"client got {name}: {got.header(name) or got.trailer_all(name)!r}")
    if case.client_body is not None and got.body != case.client_body:
        return Verdict(cls, False, f"client body {got.body[:60]!r}, want {case.client_body[:60]!r}")
    if case.expect == "accept" and cls != "accept":
        return Verdict(cls, False, f"normalised, want unchanged: {detail}")
    return Verdict(cls, True)
