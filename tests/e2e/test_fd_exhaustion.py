"""Running out of file descriptors degrades service; it never spins and never crashes (issue 8).

The gateway runs under a hard RLIMIT_NOFILE of 200 with more idle clients than it has
descriptors for. It must fit its connection limit to the descriptors it has, pause accepting
instead of spinning on the level-triggered listener, log at most a line a second, and serve
again by itself as soon as clients leave."""

import socket
import subprocess
import time

from conftest import Gateway, free_port, gateway_doc, http_get, server, service_doc, to_service, yaml_docs
from support import BIN, wait_until

NET = "127.0.26"
GW = f"{NET}.1"
NOFILE = 200
CLIENTS = 260


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks


def idle_client(port):
    s = socket.create_connection((GW, port), timeout=10)
    s.sendall(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")  # then keeps the connection, idle
    return s


def resources(raw, port):
    return {
        "s.yaml": yaml_docs(service_doc("cluster-1", [(raw.host, raw.port)])),
        "g.yaml": yaml_docs(gateway_doc([server("h", port, "*", [to_service(raw.port)])])),
    }


def test_more_clients_than_fds_keeps_cpu_low_the_log_quiet_and_recovers(procs):
    raw = procs.raw_upstream(f"{NET}.20")
    port = free_port(GW)
    gw = Gateway(procs, GW, resources(raw, port), "cluster-1", "bookinfo", (("app", "ingressgw-1"),),
                 1, "gateway")
    gw.argv = ["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--"] + gw.argv
    gw.start(wait_ports=(port,))
    clients = []
    try:
        for _ in range(CLIENTS):
            clients.append(idle_client(port))
        m = wait_until(lambda: (lambda m: m.get("crossgate_downstream_accept_paused_total") >= 1 and m)(gw.metrics()),
                       what="the gateway to pause accepting")
        accepted = m.get("crossgate_downstream_cx_active")
        assert 0 < accepted < CLIENTS, accepted  # it fitted its limit to the descriptors it has
        log_before = gw.log().count("pausing")
        cpu_before = cpu_seconds(gw.proc.pid)
        # an observation window (not synchronisation): a spinning worker burns ~1 CPU second here
        _observe(2.0)
        cpu = cpu_seconds(gw.proc.pid) - cpu_before
        logged = gw.log().count("pausing") - log_before
        assert cpu < 0.5, f"the gateway used {cpu:.2f} CPU seconds in 2 s while out of descriptors"
        assert logged <= 4, f"{logged} 'pausing' log lines in 2 s"
        assert gw.proc.check_alive()
    finally:
        for s in clients:
            s.close()
    # descriptors free up: it serves again by itself
    wait_until(lambda: http_get(GW, port, "/after").status == 200, timeout=15,
               what="a request served once the clients left", retry=(OSError, AssertionError))
    assert gw.proc.check_alive()


def _observe(seconds):
    """Lets `seconds` pass while the system under test is observed, not waited on."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)


def test_max_connections_beyond_the_fd_limit_refuses_to_start_naming_the_limit(tmp_path):
    r = subprocess.run(["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--", BIN, "gateway", "--cluster", "c",
                        "--max-connections", "1000", "--workers", "1", "--admin", "off",
                        "-f", str(tmp_path)],
                       capture_output=True, timeout=30)
    assert r.returncode > 0, r
    err = [line for line in r.stderr.decode().splitlines() if "[warn]" not in line]
    assert len(err) == 1, err  # (the empty config's warnings aside) one line, naming the limit
    assert f"is {NOFILE}" in err[0] and "--max-connections 1000" in err[0], err
