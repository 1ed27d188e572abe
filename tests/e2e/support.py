"""What every end-to-end module needs: where the binary is, waiting with a deadline, free ports,
one urllib request, and child processes in their own process groups.

stdlib only. conftest.py, edge_env.py, dynamic_env.py and the self-contained test modules import
from here; nothing here is a fixture.
"""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("CROSSGATE_BIN") or str(REPO / "build" / "crossgate")

# The guide's hostname, served by every topology of the bookinfo scenarios.
HOSTNAME = "bookinfo.tse.tetratelabs.io"

# A deadline for anything that should happen "at once" on loopback.
DEADLINE = 10.0

# Seconds a process gets to exit on SIGTERM at teardown before its group gets SIGKILL.
STOP_GRACE = 5
# Seconds to wait for a process to be gone after SIGKILL.
KILL_WAIT = 10


# ---------------------------------------------------------------- waiting


def wait_until(pred, timeout=DEADLINE, what="condition", interval=0.02, retry=Exception):
    """Polls pred() until it returns a truthy value, which is returned. Fails at the deadline.

    An exception of a class in retry (the thing polled may not be up yet) counts as "not yet" and
    is named in the timeout message if it was the last; retry=() lets every exception through."""
    end = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except retry as e:
            last_exc = e
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}" +
                                 (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


# ---------------------------------------------------------------- ports and HTTP


def free_port(host, avoid=()):
    """A port nobody listens on at host right now (the kernel's pick), not one of avoid."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        # never the same port twice in one run: two picks for one address (an admin port and
        # a listener port) could otherwise be the same free port, and the second bind fails
        if port not in avoid and port not in _handed_out:
            _handed_out.add(port)
            return port


_handed_out = set()


def free_port_on(hosts):
    """One port free on every host of hosts (a port shared by a Gateway's instances or by a
    Service's endpoints): the kernel's pick on the first, checked on the rest."""
    for _ in range(200):
        port = free_port(hosts[0])
        ok = True
        for h in hosts[1:]:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise AssertionError(f"no common free port on {hosts}")


def tcp_connectable(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_request(method, url, body=None, headers=None, timeout=10):
    """(status, {lower-case header name: value}, body bytes) of one request through urllib;
    HTTP errors are answers too. body: bytes or str (sent UTF-8)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


# ---------------------------------------------------------------- processes


class Proc:
    """A child process in its own process group (started at once), stdout and stderr in
    workdir/NAME.out and NAME.err (NAME.1.out, ... when a process of that name ran there
    before). restart() starts it again, appending to the same files.

    expect_alive: False once the test ended the process (kill9) or saw it dead (check_alive); a
    process owner reports one that exited by itself while expected alive."""

    def __init__(self, argv, workdir, name, env=None, listen=None):
        self.argv = [str(a) for a in argv]
        self.name = name
        self.env = env
        self.listen = listen  # (host, port) it serves on, if the caller wants to keep it at hand
        workdir = Path(workdir)
        stem, n = name, 0
        while (workdir / f"{stem}.out").exists() or (workdir / f"{stem}.err").exists():
            n += 1
            stem = f"{name}.{n}"
        self.out_path = workdir / f"{stem}.out"
        self.err_path = workdir / f"{stem}.err"
        self.p = None
        self.start()

    def start(self):
        assert self.p is None or self.p.poll() is not None, f"{self.name} is running"
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.p = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                      start_new_session=True, env=self.env)
        self.expect_alive = True
        return self

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def check_alive(self):
        """True while it runs; else AssertionError with the end of its stderr (and then a dead
        process is expected: the owner does not report it a second time)."""
        if not self.alive():
            self.expect_alive = False
            raise AssertionError(f"{self.name} exited with {self.p.returncode}:\n{self.stderr()[-3000:]}")
        return True

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def rss_kib(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # --- signals

    def signal(self, sig):
        """sig to the process itself (not its group)."""
        os.kill(self.p.pid, sig)

    def signal_group(self, sig):
        """sig to its whole process group, if that is still there."""
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass

    def kill9(self):
        """SIGKILL the process group and reap it: a crash, or a node going away, as far as the
        others can tell."""
        self.expect_alive = False
        self.signal_group(signal.SIGKILL)
        self.p.wait(KILL_WAIT)

    def freeze(self):
        """SIGSTOP: the process keeps its sockets (connects still succeed) but never answers."""
        self.signal_group(signal.SIGSTOP)

    def thaw(self):
        self.signal_group(signal.SIGCONT)

    def restart(self):
        if self.alive():
            self.kill9()
        return self.start()

    def stop(self):
        """Ends the process group: SIGTERM, then SIGKILL after STOP_GRACE seconds (a frozen one
        is thawed first). Returns the exit code it had before we signalled it, if any."""
        died_early = self.p.poll()
        if died_early is None:
            self.signal_group(signal.SIGCONT)  # a stopped process must be able to die
            for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, KILL_WAIT)):
                try:
                    os.killpg(self.p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.p.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            try:  # children it may have left behind
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return died_early


class Procs:
    """Owns every process a test (or a module) starts, and closers to call first (load
    generators, fake servers); finalize() ends them all and returns the complaints: processes
    that exited by themselves while expected alive, or that would not die."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.procs = []
        self.closers = []

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def spawn(self, argv, name, env=None, listen=None):
        return self.add(Proc(argv, self.workdir, name, env=env, listen=listen))

    def finalize(self):
        for c in reversed(self.closers):
            try:
                c()
            except Exception:
                pass
        crashed = []
        for p in reversed(self.procs):
            rc = p.stop()
            if rc is not None and p.expect_alive:
                crashed.append(f"{p.name} exited by itself with {rc}: {p.stderr()[-2000:]}")
            elif p.alive():
                crashed.append(f"{p.name} did not die on SIGKILL")
        self.procs.clear()
        self.closers.clear()
        return crashed

    def owned(self):
        """For a fixture (`yield from Procs(dir).owned()`): yields self; at teardown finalizes
        and fails on any complaint."""
        yield self
        crashed = self.finalize()
        assert not crashed, "\n".join(crashed)


# ---------------------------------------------------------------- certificates (`crossgate ca`)


def ca_init(d, name=None):
    """A CA in directory d (made if missing), by `crossgate ca init`: its certificate's path."""
    Path(d).mkdir(parents=True, exist_ok=True)
    argv = [BIN, "ca", "init", "--dir", str(d)] + (["--name", name] if name else [])
    subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    return Path(d) / "ca.crt"


def ca_issue(d, out, cluster, namespace="bookinfo", dns=()):
    """An identity from the CA in d (`crossgate ca issue`): out.crt and out.key; returns out."""
    argv = [BIN, "ca", "issue", "--dir", str(d), "--cluster", cluster, "--namespace", namespace,
            "--out", str(out)]
    for n in dns:
        argv += ["--dns", n]
    subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    return out


def expired_cert(work, key, cert, cn, ca_dir=None, ext=None):
    """A P-256 certificate valid only in January 2020 (`openssl ca` takes explicit dates), at
    cert with its key at key (0600): signed by the CA in ca_dir (ca.crt, ca.key), else by itself;
    ext: extension lines for it. work: a directory for openssl ca's database."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "index.txt").write_text("")
    (work / "serial").write_text("01\n")
    (work / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
        "default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n"
        + (f"[ext]\n{ext}" if ext else ""))

    def run(*a):
        subprocess.run(["openssl", *map(str, a)], check=True, capture_output=True, cwd=work,
                       stdin=subprocess.DEVNULL, timeout=30)

    csr = work / "req.csr"
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={cn}", "-keyout", key, "-out", csr)
    signer = (["-cert", Path(ca_dir) / "ca.crt", "-keyfile", Path(ca_dir) / "ca.key"] if ca_dir
              else ["-selfsign", "-keyfile", key])
    run("ca", "-batch", "-config", "ca.cnf", *signer, "-in", csr, "-out", cert,
        "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
        *(["-extensions", "ext"] if ext else []), "-notext")
    os.chmod(key, 0o600)
    return cert, key
