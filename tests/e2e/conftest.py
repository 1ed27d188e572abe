"""Fixtures and helpers for the end-to-end scenarios: real crossgate processes on 127.0.0.0/8.

Every test module owns a 127.0.N.0/24 block (see ``NET`` in each module) so modules never
collide; ports are picked free on those addresses. Nothing here waits with a bare sleep:
``wait_until`` polls a condition (admin endpoint, TCP connect, a log line) with a deadline.
Every process started is killed, with its process group, by a fixture finalizer.
"""

import json
import os
import re
import socket
import socketserver
import threading

import pytest

from support import BIN, DEADLINE, Procs, free_port, http_request, tcp_connectable, wait_until


class ProcessGroup(Procs):
    """Procs with the roles of the gateway-core modules; finalize() also closes the upstreams."""

    def __init__(self, workdir):
        super().__init__(workdir)
        self.servers = []

    def app(self, host, cluster, name=None, port=None, app_name=None):
        port = port or free_port(host)
        argv = [BIN, "app", "--listen", f"{host}:{port}", "--cluster", cluster]
        if app_name:
            argv += ["--name", app_name]
        p = self.spawn(argv, name or f"app-{cluster}-{host}-{port}")
        p.host, p.port = host, port
        wait_until(lambda: p.check_alive() and tcp_connectable(host, port),
                   what=f"app {cluster} on {host}:{port}")
        return p

    def gateway(self, address, resources, cluster="cluster-1", namespace="bookinfo",
                labels=(("app", "ingressgw-1"),), workers=2, name="gateway", wait_ports=(),
                extra_args=()):
        """Starts `crossgate gateway` in static mode on resource files.

        resources: {filename: yaml text}. Returns a Gateway handle once /ready answers 200
        and every port in wait_ports accepts connections."""
        gw = Gateway(self, address, resources, cluster, namespace, labels, workers, name)
        gw.argv += list(extra_args)
        gw.start(wait_ports)
        return gw

    def raw_upstream(self, host, port=None):
        up = RawUpstream(host, port or free_port(host))
        self.servers.append(up)
        return up

    def finalize(self):
        crashed = super().finalize()
        for s in self.servers:
            s.close()
        self.servers.clear()
        return crashed


@pytest.fixture
def procs(tmp_path):
    """Per-test process group: everything started through it dies at teardown."""
    yield from ProcessGroup(tmp_path).owned()


@pytest.fixture(scope="module")
def module_procs(tmp_path_factory, request):
    """Per-module process group, for the shared gateway and upstreams of one module."""
    workdir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    yield from ProcessGroup(workdir).owned()


# ---------------------------------------------------------------- resources (YAML)


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)  # a JSON string is a valid YAML double-quoted scalar


def _yaml_key(k):
    return k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", k) else json.dumps(k)


def to_yaml(obj, indent=0):
    """A small block-style YAML emitter for dicts, lists and scalars (readable test files)."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{_yaml_key(k)}:")
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, dict):
                lines.append(f"{pad}{_yaml_key(k)}: {{}}")
            elif isinstance(v, list):
                lines.append(f"{pad}{_yaml_key(k)}: []")
            else:
                lines.append(f"{pad}{_yaml_key(k)}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                sub = to_yaml(v, indent + 2).splitlines()
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
    else:
        lines.append(pad + _yaml_scalar(obj))
    return "\n".join(lines)


def yaml_docs(*docs):
    return "\n---\n".join(to_yaml(d) for d in docs) + "\n"


def cluster_doc(name, region="region-1"):
    return {"apiVersion": "crossgate/v1", "kind": "Cluster", "metadata": {"name": name},
            "spec": {"locality": {"region": region}}}


def service_doc(cluster, endpoints, name="productpage", namespace="bookinfo",
                hostname="productpage.bookinfo.svc.cluster.local"):
    return {"apiVersion": "crossgate/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "cluster": cluster},
            "spec": {"hostname": hostname,
                     "endpoints": [{"address": a, "port": p} for a, p in endpoints]}}


def gateway_doc(servers, name="ingress", namespace="bookinfo", labels=None,
                api="crossgate/v1"):
    return {"apiVersion": api, "kind": "Gateway", "metadata": {"name": name},
            "spec": {"workloadSelector": {"namespace": namespace,
                                          "labels": labels or {"app": "ingressgw-1"}},
                     "http": servers}}


def server(name, port, hostname, rules):
    return {"name": name, "port": port, "hostname": hostname, "routing": {"rules": rules}}


def to_service(port=9080, host="bookinfo/productpage.bookinfo.svc.cluster.local", match=None,
               timeout=None):
    r = {"route": {"serviceDestination": {"host": host, "port": port}}}
    if match:
        r = {"match": match, **r}
    if timeout:
        r["timeout"] = timeout
    return r


def direct(status, body=None, match=None):
    d = {"status": status}
    if body is not None:
        d["body"] = body
    r = {"directResponse": d}
    if match:
        r = {"match": match, **r}
    return r


def uri(kind, value):
    return {"uri": {kind: value}}


def headers(**kw):
    return {"headers": {k.replace("_", "-"): v for k, v in kw.items()}}


# ---------------------------------------------------------------- the gateway


class Gateway:
    def __init__(self, group, address, resources, cluster, namespace, labels, workers, name):
        self.group = group
        self.address = address
        self.admin_port = free_port(address)
        self.dir = group.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.access_log = self.dir / "access.log"
        self.files = {}
        for fname, text in resources.items():
            self.files[fname] = self.dir / fname
            self.files[fname].write_text(text)
        self.argv = [BIN, "gateway", "--cluster", cluster, "--namespace", namespace,
                     "--address", address, "--admin", f"{address}:{self.admin_port}",
                     "--workers", str(workers), "--access-log", str(self.access_log)]
        for k, v in labels:
            self.argv += ["--label", f"{k}={v}"]
        for p in self.files.values():
            self.argv += ["-f", p]
        self.name = name
        self.proc = None

    def start(self, wait_ports=()):
        self.proc = self.group.spawn(self.argv, self.name)
        wait_until(lambda: self.proc.check_alive() and self.admin_get("/ready")[0] == 200,
                   what=f"{self.name} /ready")
        for port in wait_ports:
            wait_until(lambda: tcp_connectable(self.address, port),
                       what=f"{self.name} listening on {self.address}:{port}")
        if wait_ports:
            # the probe connections are accepted and closed before a test reads any counter
            wait_until(lambda: (lambda m: m.get("crossgate_downstream_cx_total") >= len(wait_ports)
                                and m.get("crossgate_downstream_cx_active") == 0)(self.metrics()),
                       what=f"{self.name} to account for its probe connections")
        return self

    # --- admin
    def admin_get(self, path, timeout=5):
        status, _, body = http_request("GET", f"http://{self.address}:{self.admin_port}{path}",
                                       timeout=timeout)
        return status, body.decode()

    def metrics(self):
        status, text = self.admin_get("/metrics")
        assert status == 200, text
        return Metrics(text)

    def config_dump(self):
        status, text = self.admin_get("/config_dump")
        assert status == 200, text
        return json.loads(text)

    def config_version(self):
        return self.metrics().get("crossgate_config_version")

    # --- logs
    def log(self):
        return self.proc.stderr()

    def wait_log(self, pattern, what=None, timeout=DEADLINE):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout=timeout,
                          what=what or f"log line matching {pattern!r}")

    def access_lines(self):
        try:
            return self.access_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def wait_access(self, pred, what="access log line", timeout=DEADLINE):
        """Polls the access log (written in batches) for a parsed entry satisfying pred."""
        def find():
            for line in self.access_lines():
                e = parse_access_line(line)
                if e and pred(e):
                    return e
            return None
        return wait_until(find, timeout=timeout, what=what)

    # --- resource files
    def rewrite(self, fname, text):
        """Replaces a resource file atomically (rename), so the watcher never sees half a file."""
        path = self.files[fname]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


class Metrics:
    """Prometheus text parsed into {(name, frozenset(labels)): value}."""

    LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
    LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

    def __init__(self, text):
        self.text = text
        self.values = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = self.LINE.match(line)
            assert m, f"not a Prometheus sample line: {line!r}"
            labels = frozenset(self.LABEL.findall(m.group(2) or ""))
            self.values[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, default=0.0, **labels):
        want = frozenset(labels.items())
        return self.values.get((name, want), default)

    def sum(self, name, **labels):
        want = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and want <= ls)


# ---------------------------------------------------------------- access log

ACCESS_RE = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]+)" (?P<status>\d+) '
    r'(?P<flags>\S+) (?P<rx>\d+) (?P<tx>\d+) (?P<duration>\d+) (?P<upstream_ms>\S+) '
    r'"(?P<xff>[^"]*)" "(?P<ua>[^"]*)" "(?P<rid>[^"]*)" "(?P<authority>[^"]*)" "(?P<upstream>[^"]*)"$')


def parse_access_line(line):
    m = ACCESS_RE.match(line)
    if not m:
        return None
    e = m.groupdict()
    e["status"] = int(e["status"])
    e["rx"], e["tx"] = int(e["rx"]), int(e["tx"])
    e["flag_set"] = set() if e["flags"] == "-" else set(e["flags"].split(","))
    return e


# ---------------------------------------------------------------- a small HTTP/1.1 client


class Response:
    def __init__(self, status, reason, headers, body, truncated=False, raw_head=b""):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] as received
        self.body = body
        self.truncated = truncated
        self.raw_head = raw_head

    def header(self, name, default=None):
        vals = self.header_all(name)
        return vals[0] if vals else default

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:200]!r}>"


class PeerClosed(Exception):
    pass


class HttpConn:
    """One client connection; requests and responses as raw bytes, parsed strictly enough."""

    def __init__(self, host, port, timeout=DEADLINE, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.host, self.port = host, port

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise PeerClosed()
        self.buf += chunk

    def read_until(self, delim):
        while delim not in self.buf:
            self._fill()
        i = self.buf.index(delim) + len(delim)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        ver, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        assert ver in ("HTTP/1.1", "HTTP/1.0"), f"bad status line {lines[0]!r}"
        hdrs = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs.append((k, v.strip()))
        return int(code), reason, hdrs, head

    def read_response(self, method="GET", allow_truncated=False):
        """Reads one final response (1xx are returned too: call again for the final one)."""
        code, reason, hdrs, raw = self.read_head()
        r = Response(code, reason, hdrs, b"", raw_head=raw)
        if method == "HEAD" or 100 <= code < 200 or code in (204, 304):
            return r
        te = (r.header("transfer-encoding") or "").lower()
        try:
            if "chunked" in te:
                body = b""
                while True:
                    size_line = self.read_until(b"\r\n")
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.read_until(b"\r\n") != b"\r\n":
                            pass
                        break
                    body += self.read_exact(size)
                    assert self.read_exact(2) == b"\r\n"
                r.body = body
            elif r.header("content-length") is not None:
                r.body = self.read_exact(int(r.header("content-length")))
            else:
                while True:
                    self._fill()
        except (PeerClosed, ConnectionResetError):
            if r.header("content-length") is None and "chunked" not in te:
                r.body, self.buf = self.buf, b""
                return r
            if not allow_truncated:
                raise
            r.body, self.buf, r.truncated = self.buf, b"", True
        return r

    def request(self, method, path, host="example.com", headers=(), body=None, read=True):
        self.send(build_request(method, path, host, headers, body))
        if read:
            return self.read_response(method)
        return None

    def get(self, path, host="example.com", headers=()):
        return self.request("GET", path, host, headers)

    def peer_closed(self, timeout=DEADLINE):
        """True once the peer closes (EOF or reset) with no further bytes; False if bytes come."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            return True
        except socket.timeout:
            raise AssertionError(f"connection still open after {timeout}s")
        if data:
            self.buf += data
            return False
        return True


def build_request(method, path, host="example.com", headers=(), body=None):
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = {k.lower() for k, _ in headers}
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in headers]
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out + (body or b"")


def http_get(host, port, path="/", vhost="example.com", headers=(), source=None):
    with HttpConn(host, port, source=source) as c:
        return c.request("GET", path, vhost, list(headers) + [("Connection", "close")])


def raw_exchange(host, port, data, timeout=DEADLINE):
    """Sends data on a fresh connection; returns (first response or None, closed_after)."""
    with HttpConn(host, port, timeout=timeout) as c:
        c.send(data)
        try:
            r = c.read_response()
        except (PeerClosed, ConnectionResetError):
            return None, True
        try:
            closed = c.peer_closed(timeout)
        except AssertionError:
            closed = False
        return r, closed


# ---------------------------------------------------------------- a scripted upstream


class UpstreamRequest:
    def __init__(self, conn_id, method, path, headers, raw_head):
        self.conn_id = conn_id
        self.method = method
        self.path = path
        self.headers = headers  # [(name, value)] exactly as received
        self.raw_head = raw_head
        self.body_len = 0
        self.body = bytearray()
        self.complete = False

    def header(self, name, default=None):
        vals = self.header_all(name)
        return vals[0] if vals else default

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def header_names(self):
        return {k.lower() for k, _ in self.headers}

    def __repr__(self):
        return f"<UpstreamRequest {self.method} {self.path} complete={self.complete} body={self.body_len}>"


class RawUpstream:
    """An HTTP/1.1 upstream in Python that records what it received, byte for byte.

    Behaviour by path (after any prefix such as /raw):
      .../download/N   200 with Content-Length N, streamed (body not kept)
      .../big-head/N   200 "raw\\n" with an x-big field of N bytes ("b" each)
      .../upload       reads the body counting it (not kept), answers x-received: N
      .../truncate     head with Content-Length 1000, 10 bytes, then closes
      .../chunked-response   a chunked "hello world"
      .../eof-response       a body delimited by closing the connection
      .../quiet-close        200 with Content-Length, then closes without saying so
      .../hang         never answers
      .../gate         answers once .gate is set
      anything else    200 "raw\\n", body kept (up to 16 MiB)
    """

    KEEP_BODY = 16 << 20

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.requests = []  # UpstreamRequest, in arrival order (complete or not)
        self.connections = 0
        self.bytes_received = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self._stop = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            # socketserver's backlog is 5: a burst of 50 connects (50 h2 streams held upstream
            # at once) loses SYNs, whose retransmits come 1, 3, 7 s later
            request_queue_size = 256

        self.server = Server((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self._stop.set()
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.connections = 0
            self.bytes_received = 0

    def complete_requests(self):
        with self.lock:
            return [r for r in self.requests if r.complete]

    # --- serving
    def _serve(self, sock):
        sock.settimeout(30)
        with self.lock:
            self.connections += 1
            conn_id = self.connections
        buf = bytearray()

        def fill():
            data = sock.recv(1 << 20)
            if not data:
                raise PeerClosed()
            with self.lock:
                self.bytes_received += len(data)
            buf.extend(data)

        def read_until(delim):
            while True:
                i = buf.find(delim)
                if i >= 0:
                    out = bytes(buf[:i + len(delim)])
                    del buf[:i + len(delim)]
                    return out
                fill()

        try:
            while not self._stop.is_set():
                head = read_until(b"\r\n\r\n")
                lines = head[:-4].decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                hdrs = []
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    hdrs.append((k, v.strip()))
                req = UpstreamRequest(conn_id, method, path, hdrs, head)
                with self.lock:
                    self.requests.append(req)
                keep = not path.endswith("/upload")
                te = (req.header("transfer-encoding") or "").lower()
                if "chunked" in te:
                    while True:
                        size = int(read_until(b"\r\n").split(b";")[0], 16)
                        if size == 0:
                            while read_until(b"\r\n") != b"\r\n":
                                pass
                            break
                        self._take(req, buf, fill, size, keep)
                        read_until(b"\r\n")
                elif req.header("content-length"):
                    self._take(req, buf, fill, int(req.header("content-length")), keep)
                req.complete = True
                if not self._respond(sock, req):
                    return
        except (PeerClosed, ConnectionError, socket.timeout, ValueError, OSError):
            return

    def _take(self, req, buf, fill, n, keep):
        while n:
            if not buf:
                fill()
            k = min(n, len(buf))
            if keep and len(req.body) < self.KEEP_BODY:
                req.body.extend(buf[:k])
            req.body_len += k
            del buf[:k]
            n -= k

    def _respond(self, sock, req):
        p = req.path.split("?")[0]
        if "/download/" in p:
            n = int(p.rsplit("/", 1)[1])
            sock.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n".encode())
            block = memoryview(b"x" * (1 << 20))
            while n:
                k = min(n, len(block))
                sock.sendall(block[:k])
                n -= k
            return True
        if "/big-head/" in p:
            n = int(p.rsplit("/", 1)[1])
            sock.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nx-big: {'b' * n}\r\n\r\nraw\n"
                         .encode())
            return True
        if p.endswith("/chunked-response"):
            sock.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            return True
        if p.endswith("/eof-response"):
            sock.sendall(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil-" + b"e" * 5000 + b"of")
            sock.shutdown(socket.SHUT_RDWR)
            return False
        if p.endswith("/quiet-close"):
            sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nraw\n")
            sock.shutdown(socket.SHUT_RDWR)
            return False
        if p.endswith("/truncate"):
            sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"y" * 10)
            sock.shutdown(socket.SHUT_RDWR)
            return False
        if p.endswith("/hang"):
            self._stop.wait(60)
            return False
        if p.endswith("/gate"):
            self.gate.wait(30)
        body = b"raw\n"
        extra = f"x-received: {req.body_len}\r\n"
        sock.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body)
        return True

