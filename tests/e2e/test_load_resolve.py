"""`crossgate load --resolve-via`: a client behind a GSLB, against a real DNS server.

PowerDNS Authoritative (pdns-server, bind backend) serves the zone gslb.test from a zone file
with a 1 s TTL; two `crossgate app`s on two addresses of this block answer for app.gslb.test.
The tests rewrite the zone and reload it (pdns_control bind-reload-now) and watch the load move,
then stop the DNS server and watch the load keep its last answer.

Address block: 127.0.88.0/24 (DNS server .1, apps .11 and .12, .13 where nothing listens).
"""

import json
import re
import shutil
import signal
import subprocess

import pytest

from support import BIN, free_port, wait_until

NET = "127.0.88"
DNS = f"{NET}.1"
ZONE = "gslb.test"
NAME = f"app.{ZONE}"

PDNS_CONF = """launch=bind
bind-config={d}/named.conf
local-address={addr}
local-port={port}
socket-dir={d}
daemon=no
guardian=no
disable-syslog=yes
write-pid=no
webserver=no
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
security-poll-suffix=
"""


def zone_text(serial, *addrs):
    rrs = "".join(f"app IN A {a}\n" for a in addrs)
    return (f"$ORIGIN {ZONE}.\n$TTL 1\n"
            f"@ IN SOA ns.{ZONE}. admin.{ZONE}. {serial} 60 60 60 1\n"
            f"@ IN NS ns.{ZONE}.\nns IN A {DNS}\n{rrs}")


class Pdns:
    def __init__(self, procs, d):
        self.d, self.port = d, free_port(DNS)
        (d / "named.conf").write_text(f'zone "{ZONE}" {{ type master; file "{d}/zone"; }};\n')
        (d / "pdns.conf").write_text(PDNS_CONF.format(d=d, addr=DNS, port=self.port))
        self.serial = 1
        (d / "zone").write_text(zone_text(1, f"{NET}.11", f"{NET}.12"))
        self.p = procs.spawn(["pdns_server", f"--config-dir={d}", "--config-name="], "pdns")
        wait_until(lambda: self.p.check_alive() and
                   "parsed into memory" in self.control("bind-domain-status", ZONE),
                   what="pdns_server with the zone loaded")
        self.addr = f"{DNS}:{self.port}"

    def control(self, *args):
        r = subprocess.run(["pdns_control", f"--socket-dir={self.d}", *args],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()

    def serve(self, *addrs):
        self.serial += 1
        (self.d / "zone").write_text(zone_text(self.serial, *addrs))
        out = self.control("bind-reload-now", ZONE)
        assert "parsed into memory" in out, out


@pytest.fixture
def pdns(procs, tmp_path):
    if not shutil.which("pdns_server"):
        pytest.skip("pdns_server is not installed (scripts/deps.sh installs pdns-server)")
    return Pdns(procs, tmp_path)


@pytest.fixture
def apps(procs):
    port = free_port(f"{NET}.11")
    while True:  # the same port on both addresses: the URL has one
        try:
            return [procs.app(f"{NET}.11", "c11", port=port), procs.app(f"{NET}.12", "c12", port=port)]
        except AssertionError:
            port = free_port(f"{NET}.11")


def start_load(procs, tmp_path, pdns_addr, port, *extra):
    out = tmp_path / "load.json"
    p = procs.spawn([BIN, "load", f"http://{NAME}:{port}/", "--resolve-via", pdns_addr,
                     "-c", "4", "-d", "60s", "--interval", "200ms", "--json", out, *extra],
                    "load")
    return p, out


def lines(p, prefix):
    return [ln for ln in p.stdout().splitlines() if ln.startswith(prefix)]


def is_live(ln):
    return re.match(r"^\s*\d+\.\ds  rps ", ln) is not None


def live_after(p, marker):
    """The live lines printed after the first line containing marker."""
    text = p.stdout().splitlines()
    for i, ln in enumerate(text):
        if marker in ln:
            return [x for x in text[i + 1:] if is_live(x)]
    return []


def end_load(p, out):
    p.signal(signal.SIGINT)
    p.p.wait(20)
    p.expect_alive = False
    return json.loads(out.read_text())


def both_served(p):
    """A live interval in which both apps answered."""
    return any(re.search(r"c11:[1-9]\d* c12:[1-9]", ln) for ln in p.stdout().splitlines()
               if is_live(ln))


def test_load_resolve_via_moves_to_the_new_answer(procs, tmp_path, pdns, apps):
    p, out = start_load(procs, tmp_path, pdns.addr, apps[0].port)
    wait_until(lambda: p.check_alive() and both_served(p), what="load spread over both addresses")
    pdns.serve(f"{NET}.12")
    wait_until(lambda: any(ln.endswith(f": {NET}.12 (ttl 1s)") for ln in lines(p, "dns: ")),
               what="the new answer")
    # the drained connections close after their current request: once two live intervals have
    # passed since the new answer, c11 gets nothing
    wait_until(lambda: len(live_after(p, f": {NET}.12 (ttl 1s)")) >= 3, what="intervals")
    r = end_load(p, out)
    assert r["failed_requests"] == 0, r  # c11 still answered: moving away loses nothing
    assert r["dns"]["addresses"] == [f"{NET}.12"] and r["dns"]["changes"] == 2
    assert r["dns"]["failures"] == 0 and r["dns"]["last_error"] is None
    assert r["requests_per_cluster"]["c11"] > 0 and r["requests_per_cluster"]["c12"] > 0
    assert r["connects"] >= 6  # 4 at the start, and those to .11 reopened to .12
    # the timeline: from the second live interval after the new answer (the first one lets the
    # connections to .11 finish the request they had), only c12
    after = live_after(p, f": {NET}.12 (ttl 1s)")
    drained_t = float(after[1].split()[0].rstrip("s"))
    late = [b for b in r["timeline"] if b["t"] > drained_t]
    assert late and all(b["clusters"].get("c11", 0) == 0 for b in late), late
    assert sum(b["clusters"].get("c12", 0) for b in late) > 0


def test_load_resolve_via_spreads_and_fails_over_to_a_current_address(procs, tmp_path, pdns,
                                                                        apps):
    # an address nothing listens on, then only the good one: requests to .13 fail as refused
    # until the answer drops it
    pdns.serve(f"{NET}.13", f"{NET}.12")
    p, out = start_load(procs, tmp_path, pdns.addr, apps[0].port)
    wait_until(lambda: p.check_alive() and "refused" in p.stdout(), what="requests to .13")
    pdns.serve(f"{NET}.12")
    wait_until(lambda: len(live_after(p, f": {NET}.12 (ttl 1s)")) >= 3, what="intervals")
    r = end_load(p, out)
    assert r["errors"]["refused"] > 0 and r["requests_per_cluster"]["c12"] > 0, r
    text = p.stdout().splitlines()
    i = next(i for i, ln in enumerate(text) if ln.endswith(f": {NET}.12 (ttl 1s)"))
    tail = [x for x in text[i + 1:] if is_live(x)][2:]
    assert tail and all("errors 0" in x for x in tail), tail


def test_load_resolve_via_keeps_the_last_answer_when_dns_fails(procs, tmp_path, pdns, apps):
    p, out = start_load(procs, tmp_path, pdns.addr, apps[0].port)
    wait_until(lambda: p.check_alive() and lines(p, "dns: "), what="the first answer")
    pdns.p.kill9()
    wait_until(lambda: any("failed" in ln and "keeping" in ln for ln in lines(p, "dns: ")),
               what="a failed query reported")
    fail_line = next(ln for ln in lines(p, "dns: ") if "failed" in ln)
    assert f"keeping {NET}.11 {NET}.12" in fail_line or f"keeping {NET}.12 {NET}.11" in fail_line
    wait_until(lambda: len(live_after(p, fail_line)) >= 3, what="intervals")
    r = end_load(p, out)
    assert r["failed_requests"] == 0, r  # the last good answer is still served
    assert r["dns"]["failures"] >= 1 and r["dns"]["last_error"], r["dns"]
    assert sorted(r["dns"]["addresses"]) == [f"{NET}.11", f"{NET}.12"]
    tail = live_after(p, fail_line)
    assert all("rps 0 " not in x for x in tail), tail


def test_load_resolve_via_without_a_dns_server_counts_dns_errors(procs):
    port = free_port(DNS)
    r = subprocess.run([BIN, "load", f"http://{NAME}:80/", "--resolve-via", f"{DNS}:{port}",
                        "-d", "1500ms", "--json", "-", "-q"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["requests"] > 0 and j["errors"]["dns"] == j["requests"] == j["failed_requests"], j
    assert j["dns"]["failures"] >= 1 and j["dns"]["addresses"] == []
    assert "refused" in j["dns"]["last_error"] or "timeout" in j["dns"]["last_error"]
