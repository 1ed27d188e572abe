"""A small, deliberately strict HTTP/1.1 message parser for judging what a proxy forwarded.

It accepts only clean messages (RFC 9112): CRLF line endings everywhere, a single-SP start
line, token field names directly followed by ":", field values without CTLs (HTAB allowed,
obs-text allowed), no obs-fold, and one unambiguous framing: at most one Content-Length
(1*DIGIT) or exactly one `Transfer-Encoding: chunked`, never both, with a well-formed chunked
body (1..16 HEXDIG sizes, token/quoted chunk extensions, CRLF after data, clean trailers).
Anything else raises StrictError; a message cut short raises Incomplete (more bytes may come).

stdlib only; used by tests/e2e/test_conformance.py and bench/conformance.py.
"""

import re

__all__ = ["StrictError", "Incomplete", "Message", "parse_request", "parse_response",
           "parse_requests", "TCHAR"]


class StrictError(Exception):
    """The bytes are not a clean HTTP/1.1 message."""


class Incomplete(Exception):
    """The bytes are a clean prefix of a message; more are needed."""


TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.([01])")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3}) ([\t\x20-\x7e\x80-\xff]*)")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(.*)", re.S)
_CHUNK_EXT = re.compile(
    rb'[ \t]*;[ \t]*(' + _TOKEN + rb')(?:[ \t]*=[ \t]*(' + _TOKEN +
    rb'|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?')
MAX_HEAD = 1 << 20
MAX_CL = 1 << 62


class Message:
    """One parsed message. headers: [(name, value)] in order, names as sent, values without
    surrounding OWS. body: decoded bytes. framing: 'none' | 'length' | 'chunked' | 'close'."""

    def __init__(self):
        self.method = self.target = self.reason = None
        self.status = None
        self.version = None
        self.headers = []
        self.trailers = []
        self.body = b""
        self.framing = "none"
        self.chunk_exts = []  # [(name, value or None)] over all chunks
        self.raw = b""

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def header(self, name):
        """The field's combined value (RFC 9110 §5.3: occurrences joined by ", "), or None."""
        vals = self.header_all(name)
        return ", ".join(vals) if vals else None

    def trailer_all(self, name):
        n = name.lower()
        return [v for k, v in self.trailers if k.lower() == n]

    def __repr__(self):
        first = (f"{self.method} {self.target}" if self.method is not None
                 else f"{self.status} {self.reason}")
        return f"<Message {first} {self.headers} body={self.body[:80]!r}>"


def _line(buf, pos, eof):
    """(line without CRLF, position after CRLF). Bare CR or LF anywhere is an error."""
    i = buf.find(b"\n", pos)
    if i < 0:
        cr = buf.find(b"\r", pos)
        if cr >= 0 and cr < len(buf) - 1:
            raise StrictError(f"bare CR at offset {cr}")
        if eof:
            raise StrictError("truncated line at end of stream")
        if len(buf) - pos > MAX_HEAD:
            raise StrictError("line too long")
        raise Incomplete()
    if i == pos or buf[i - 1] != 0x0D:
        raise StrictError(f"bare LF at offset {i}")
    line = bytes(buf[pos:i - 1])
    if b"\r" in line:
        raise StrictError(f"bare CR inside line {line[:80]!r}")
    return line, i + 1


def _fields(buf, pos, eof, what="header"):
    """Field lines up to and including the empty line: ([(name, value)], position after)."""
    out = []
    start = pos
    while True:
        line, pos = _line(buf, pos, eof)
        if line == b"":
            return out, pos
        if pos - start > MAX_HEAD:
            raise StrictError(f"{what} section too large")
        if line[:1] in (b" ", b"\t"):
            raise StrictError(f"obs-fold or leading whitespace in {what} line {line[:80]!r}")
        name, sep, value = line.partition(b":")
        if not sep:
            raise StrictError(f"{what} line without colon: {line[:80]!r}")
        if not name or any(c not in TCHAR for c in name):
            raise StrictError(f"invalid {what} name {name[:80]!r}")
        if _FIELD_VALUE_BAD.search(value):
            raise StrictError(f"control byte in {what} value of {name!r}: {value[:80]!r}")
        out.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))


def _content_length(msg):
    vals = msg.header_all("content-length")
    if not vals:
        return None
    if len(vals) > 1:
        raise StrictError(f"{len(vals)} Content-Length fields {vals}")
    v = vals[0]
    if not re.fullmatch(r"[0-9]+", v):
        raise StrictError(f"invalid Content-Length {v!r}")
    n = int(v)
    if n > MAX_CL:
        raise StrictError(f"Content-Length {v} too large")
    return n


def _chunked(msg):
    vals = msg.header_all("transfer-encoding")
    if not vals:
        return False
    if len(vals) > 1:
        raise StrictError(f"{len(vals)} Transfer-Encoding fields {vals}")
    if vals[0].lower() != "chunked":
        raise StrictError(f"Transfer-Encoding other than chunked: {vals[0]!r}")
    return True


def _chunked_body(buf, pos, eof, msg):
    body = bytearray()
    while True:
        line, pos = _line(buf, pos, eof)
        m = _CHUNK_SIZE.fullmatch(line)
        if not m:
            raise StrictError(f"invalid chunk-size line {line[:80]!r}")
        rest = m.group(2)
        while rest:
            e = _CHUNK_EXT.match(rest)
            if not e:
                raise StrictError(f"invalid chunk extension {line[:80]!r}")
            msg.chunk_exts.append((e.group(1).decode("latin-1"),
                                   e.group(2).decode("latin-1") if e.group(2) is not None else None))
            rest = rest[e.end():]
        size = int(m.group(1), 16)
        if size == 0:
            msg.trailers, pos = _fields(buf, pos, eof, "trailer")
            msg.body = bytes(body)
            return pos
        if len(buf) < pos + size + 2:
            if eof:
                raise StrictError("chunk data truncated at end of stream")
            raise Incomplete()
        body += buf[pos:pos + size]
        pos += size
        if buf[pos:pos + 2] != b"\r\n":
            raise StrictError(f"chunk data not followed by CRLF: {bytes(buf[pos:pos + 20])!r}")
        pos += 2


def parse_request(buf, pos=0, eof=False):
    """One request starting at buf[pos]: (Message, position after it)."""
    start = pos
    line, pos = _line(buf, pos, eof)
    m = _REQUEST_LINE.fullmatch(line)
    if not m:
        raise StrictError(f"invalid request line {line[:120]!r}")
    msg = Message()
    msg.method, msg.target = m.group(1).decode(), m.group(2).decode("latin-1")
    msg.version = "1." + m.group(3).decode()
    msg.headers, pos = _fields(buf, pos, eof)
    cl, chunked = _content_length(msg), _chunked(msg)
    if cl is not None and chunked:
        raise StrictError("both Content-Length and Transfer-Encoding")
    if chunked and msg.version == "1.0":
        raise StrictError("Transfer-Encoding in an HTTP/1.0 message")
    if chunked:
        msg.framing = "chunked"
        pos = _chunked_body(buf, pos, eof, msg)
    elif cl is not None:
        msg.framing = "length"
        if len(buf) < pos + cl:
            if eof:
                raise StrictError(f"body truncated: {len(buf) - pos} of {cl} bytes")
            raise Incomplete()
        msg.body = bytes(buf[pos:pos + cl])
        pos += cl
    msg.raw = bytes(buf[start:pos])
    return msg, pos


def parse_response(buf, pos=0, method="GET", eof=False):
    """One response (1xx included) starting at buf[pos]: (Message, position after it).
    A close-delimited body is complete only at eof."""
    start = pos
    line, pos = _line(buf, pos, eof)
    m = _STATUS_LINE.fullmatch(line)
    if not m:
        raise StrictError(f"invalid status line {line[:120]!r}")
    msg = Message()
    msg.version = "1." + m.group(1).decode()
    msg.status, msg.reason = int(m.group(2)), m.group(3).decode("latin-1")
    msg.headers, pos = _fields(buf, pos, eof)
    cl, chunked = _content_length(msg), _chunked(msg)
    if cl is not None and chunked:
        raise StrictError("both Content-Length and Transfer-Encoding")
    if chunked and msg.version == "1.0":
        raise StrictError("Transfer-Encoding in an HTTP/1.0 message")
    if msg.status < 200 or msg.status == 204:
        if cl is not None or chunked:
            raise StrictError(f"{msg.status} response with framing headers")
    elif method == "HEAD" or msg.status == 304:
        msg.framing = "chunked" if chunked else ("length" if cl is not None else "none")
    elif chunked:
        msg.framing = "chunked"
        pos = _chunked_body(buf, pos, eof, msg)
    elif cl is not None:
        msg.framing = "length"
        if len(buf) < pos + cl:
            if eof:
                raise StrictError(f"body truncated: {len(buf) - pos} of {cl} bytes")
            raise Incomplete()
        msg.body = bytes(buf[pos:pos + cl])
        pos += cl
    else:
        msg.framing = "close"
        if not eof:
            raise Incomplete()
        msg.body = bytes(buf[pos:])
        pos = len(buf)
    msg.raw = bytes(buf[start:pos])
    return msg, pos


def parse_requests(data):
    """Every request in data, which must consist of whole clean requests only."""
    out, pos = [], 0
    while pos < len(data):
        msg, pos = parse_request(data, pos, eof=True)
        out.append(msg)
    return out
