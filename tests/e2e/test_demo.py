"""`crossgate demo`: the guide in one command, its failure scenarios and its reports.

The demo runs every role on the fixed addresses of examples/ (edge 127.0.0.1:8080, admin
127.0.0.1:15000, control plane 127.0.0.1:7070, cluster-1 on 127.0.1.*, cluster-2 on 127.0.2.*,
edge-2 on 127.0.4.1, the GSLB on 127.0.4.53:8053; with --ha the etcd members on 127.0.5.1-3 and
the second control-plane replica on 127.0.5.10:7070),
so the tests of this module run one after the other and no other module uses those addresses.
Each scenario takes about 15 s (load from 0 to 14 s), 17 s with --ha; the module about 6 minutes.

Self-contained: stdlib, pytest and support.py. Nothing waits with a bare sleep for a state: the
tests poll the demo's output, the edge or /proc with a deadline.
"""

import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest

from support import BIN, HOSTNAME, Proc, tcp_connectable, wait_until

needs_etcd = pytest.mark.skipif(shutil.which("etcd") is None,
                                reason="etcd is not installed: scripts/deps.sh installs etcd-server")

EDGE = ("127.0.0.1", 8080)
PORTS = [("127.0.0.1", 8080), ("127.0.0.1", 15000), ("127.0.0.1", 7070), ("127.0.0.1", 8443),
         ("127.0.0.1", 15443), ("127.0.1.1", 8080), ("127.0.1.1", 15000), ("127.0.1.1", 15443),
         ("127.0.1.10", 9080), ("127.0.2.1", 8080), ("127.0.2.1", 15000), ("127.0.2.1", 15443),
         ("127.0.2.10", 9080), ("127.0.4.1", 8080), ("127.0.4.1", 15000), ("127.0.4.1", 15443),
         ("127.0.4.53", 8053), ("127.0.5.10", 7070)] + [
         (f"127.0.5.{i}", port) for i in (1, 2, 3) for port in (2379, 2380)]
ROW = re.compile(r"^(control plane|productpage|ingress gateway|edge gateway|GSLB \(PowerDNS\)|"
                 r"etcd member)"
                 r"\s+(\S+)\s+(\S+)\s+"
                 r"(\S+)\s+(\S+)\s+(\d+)\s+(\S+)$")


# ---------------------------------------------------------------- helpers


# wait_for(pred, timeout, what): polls more slowly than the other modules, and an exception
# from pred (the demo exited) fails the wait at once
wait_for = functools.partial(wait_until, interval=0.05, retry=())


def alive(pid):
    """A process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def processes_mentioning(text):
    """Live processes whose command line contains text."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and alive(int(d)):
            found.append((int(d), cmd))
    return found


def table_pids(stdout):
    """The pids of the table the demo prints (role, cluster, region, address, admin, pid, log)."""
    return {m.group(6): int(m.group(6)) for m in map(ROW.match, stdout.splitlines()) if m}


def assert_nothing_left(run_dir, pids=()):
    def gone():
        return not [p for p in pids if alive(p)] and not processes_mentioning(str(run_dir))
    try:
        wait_for(gone, 10, "the demo's processes to go away")
    except AssertionError:
        left = [p for p in pids if alive(p)] + processes_mentioning(str(run_dir))
        raise AssertionError(f"processes left behind: {left}")
    for host, port in PORTS:
        assert not tcp_connectable(host, port), f"something still listens on {host}:{port}"


@pytest.fixture(scope="module", autouse=True)
def demo_addresses_free():
    busy = [f"{h}:{p}" for h, p in PORTS if tcp_connectable(h, p)]
    if busy:
        pytest.fail("the demo's addresses are taken by another process: " + ", ".join(busy))


class Demo(Proc):
    """A `crossgate demo` child without a terminal (stdin /dev/null), output in demo.out and
    demo.err."""

    def __init__(self, tmp_path, *args):
        self.run_dir = tmp_path / "run"
        super().__init__([BIN, "demo", "--dir", self.run_dir, *args], tmp_path, "demo")

    def wait_table(self, timeout=30, rows=8):
        """The pids of the process table: 8 rows, 12 with --ha (a second control plane and
        three etcd members)."""
        def table():
            if self.p.poll() is not None:
                raise AssertionError(f"demo exited with {self.p.returncode}:\n{self.stdout()}"
                                     f"\n{self.stderr()}")
            pids = table_pids(self.stdout())
            return pids if len(pids) == rows else None
        return list(wait_for(table, timeout, "the demo's process table").values())

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"demo did not exit within {timeout}s:\n{self.stdout()[-3000:]}")

    def kill(self):
        """SIGKILL to the demo alone: its children must go by themselves (PR_SET_PDEATHSIG)."""
        if self.p.poll() is None:
            self.signal(signal.SIGKILL)
            self.p.wait(10)


@pytest.fixture
def demo(tmp_path):
    started = []

    def start(*args):
        d = Demo(tmp_path, *args)
        started.append(d)
        return d
    yield start
    for d in started:  # a failed test must not leave the fixed addresses taken
        d.kill()
        for pid, _ in processes_mentioning(str(d.run_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def get_productpage():
    c = http.client.HTTPConnection(*EDGE, timeout=5)
    try:
        c.request("GET", "/productpage", headers={"Host": HOSTNAME})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


# ---------------------------------------------------------------- scenarios

SCENARIOS = ["remove-gateway", "scale-ingress", "scale-upstream", "hang-ingress",
             "weighted-canary", "region-down", "scale-upstream-eastwest"]
HA_SCENARIOS = ["etcd-member-down", "control-plane-down"]


def run_scenario(demo, name, report, *extra):
    """Runs --scenario NAME to its end, checks that it left nothing behind; its report.json."""
    d = demo("--scenario", name, "--report", str(report), *extra)
    pids = d.wait_table(rows=12 if "--ha" in extra else 8)
    rc = d.wait(60)
    assert rc == 0, f"exit {rc}:\n{d.stdout()[-3000:]}\n{d.stderr()}"
    assert_nothing_left(d.run_dir, pids)
    return json.loads((report / "report.json").read_text())


def share(window, cluster):
    n = window["requests"]
    return window["clusters"].get(cluster, 0) / n if n else 0.0


# every drill in both protocols; one also with --ha (each drill passes there too: one keeps the
# module's time down)
RUNS = [(name, protocol, "single") for name in SCENARIOS for protocol in ("HTTP/1.1", "HTTP/2")]
RUNS.append(pytest.param("scale-ingress", "HTTP/1.1", "ha", marks=needs_etcd))


@pytest.mark.parametrize("name,protocol,mode", RUNS)
def test_scenario_report(demo, tmp_path, name, protocol, mode):
    """Each failure of the guide under 200 req/s, the load speaking HTTP/1.1 or HTTP/2 (h2c) to
    the edge: the report says what happened, and traffic is back on the failed cluster after the
    restore. (The load tool's HTTP/2 fails every request to a server that does not speak it, so
    a clean HTTP/2 run is one the edge served over HTTP/2.) One drill also runs with --ha (the
    control plane on etcd, two replicas): the scale-ingress restart registers again through the
    list of control planes."""
    report = tmp_path / "report"
    extra = ["--http2"] if protocol == "HTTP/2" else []
    extra += ["--ha"] if mode == "ha" else []
    r = run_scenario(demo, name, report, *extra)
    assert r["scenario"] == name
    assert r["protocol"] == protocol
    assert r["mode"] == mode
    assert ("ha" in r) == (mode == "ha")
    if mode == "ha":
        # the four gateways' instances (a SIGKILLed gateway's expires: it registers again)
        assert len(r["ha"]["instances_at_failure"]) == 4, r["ha"]
    # the load ran its 14 s at 200 req/s, open loop: request k is sent at k/200 s, so a slow
    # machine finishes fewer of them (the rest are unfinished, not counted) but never more
    assert r["rate"] == 200.0 and abs(r["duration_s"] - 14.0) < 0.5, (r["rate"], r["duration_s"])
    assert 0 < r["requests"] <= r["rate"] * r["duration_s"] + 1, r["requests"]
    # and kept going to the end: answers finished in every second of the run
    for second in range(14):
        assert sum(w["requests"] for w in r["timeline"] if second < w["t"] <= second + 1), second
    # every request is accounted for: by status, by cluster (failures have none; "-" for
    # answers without x-app-cluster), and by window of the timeline
    assert sum(r["status"].values()) == r["requests"]
    assert sum(r["requests_per_cluster"].values()) == r["requests"] - r["status"].get("0", 0)
    failed = sum(n for code, n in r["status"].items() if code == "0" or int(code) >= 500)
    assert r["failed_requests"] == failed, r["status"]
    assert sum(w["requests"] for w in r["timeline"]) == r["requests"]
    assert sum(w["failed"] for w in r["timeline"]) == r["failed_requests"]
    assert all(sum(w["status"].values()) == w["requests"] for w in r["timeline"])
    # the schedule (failure at 3 s, restore at 8 s), as the loop kept it on a loaded machine
    assert abs(r["failure"]["at_s"] - 3.0) < 0.5 and abs(r["restore"]["at_s"] - 8.0) < 0.5
    assert r["failure"]["time"] and r["restore"]["time"]
    assert r["failed_cluster"] == ("cluster-2" if name == "weighted-canary" else "cluster-1")
    assert set(r["requests_per_cluster"]) >= {"cluster-1", "cluster-2"}
    assert len(r["timeline"]) == 140
    if name == "weighted-canary":
        # no health checks, no failover: cluster-2's half is answered 503 while it is down
        assert r["status"].get("503", 0) > 300, r["status"]
        assert r["failed_requests"] == r["status"]["503"]
        assert r["failover_seconds"] is None
    else:
        assert r["failed_requests"] == 0, r["status"]
        assert r["failover_seconds"] is not None and r["failover_seconds"] <= 3.0
        # during the outage, everything is answered by cluster-2
        outage = [w for w in r["timeline"] if 4.0 < w["t"] <= 8.0]
        assert all(share(w, "cluster-2") == 1.0 for w in outage if w["requests"])
    if name == "scale-upstream-eastwest":
        # cluster-2 answered through its east-west gateway (ingress-1 failed over inside the
        # mesh), so the edge saw no error and never ejected cluster-1
        [ew] = [e["text"] for e in r["events"] if e["text"].startswith("east-west: eastwest-2 served")]
        served, ejections = map(int, re.search(r"served (\d+) requests; the edge ejected cluster-1 "
                                               r"(\d+) times", ew).groups())
        assert served >= r["requests_per_cluster"]["cluster-2"] > 0, (ew, r["requests_per_cluster"])
        assert ejections == 0, ew
    # the restore brings the traffic back: the last 3 s look like the first 3 s
    assert r["recovery_seconds"] is not None and r["recovery_seconds"] <= 3.0
    down = r["failed_cluster"]
    before = [share(w, down) for w in r["timeline"] if 0.5 < w["t"] <= 3.0]
    after = [share(w, down) for w in r["timeline"] if w["t"] > 11.0]
    assert abs(sum(after) / len(after) - sum(before) / len(before)) < 0.1

    svg = ET.parse(report / "report.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    ns = {"s": "http://www.w3.org/2000/svg"}
    markers = {}
    for line in svg.iterfind(".//s:line", ns):
        classes = line.get("class", "").split()
        if "marker" in classes:
            markers[classes[1]] = float(line.get("x1"))
    assert set(markers) == {"failure", "restore"} and markers["failure"] < markers["restore"]
    labels = " ".join(t.text or "" for t in svg.iterfind(".//s:text", ns))
    # the markers name the moments the report gives (about 3 s and 8 s)
    assert f"failure at {r['failure']['at_s']:.1f} s" in labels, labels
    assert f"restore at {r['restore']['at_s']:.1f} s" in labels, labels
    assert len(svg.findall(".//s:g[@class='series']", ns)) >= 3  # two clusters and failures


GSLB_SCENARIOS = ["edge-down", "local-clusters-down", "region-down-edge"]


@pytest.mark.parametrize("name", GSLB_SCENARIOS)
def test_gslb_scenario_report(demo, tmp_path, name):
    """The drills behind the GSLB (PowerDNS, LUA ifurlup on each edge's health URL): the load
    resolves the guide's hostname through it, edge-1 leaves the answer after the failure, the
    traffic ends up on edge-2, and both charts are written."""
    report = tmp_path / "report"
    r = run_scenario(demo, name, report)
    g = r["gslb"]
    assert r["scenario"] == name and r["failed_cluster"] == "cluster-1"
    assert (g["dns"], g["ttl_s"], g["check_interval_s"]) == ("127.0.4.53:8053", 1, 1)
    assert g["health_url"] == f"http://{HOSTNAME}:8080/healthz/local"
    assert sum(r["status"].values()) == r["requests"]
    assert sum(w["requests"] for w in r["timeline"]) == r["requests"]
    # both edges served before the failure; each prefers its own region's cluster
    early = [w for w in r["timeline"] if 0.5 < w["t"] <= 3.0]
    assert g["requests_per_edge"]["edge-1"] > 0 and g["requests_per_edge"]["edge-2"] > 0, g
    assert 0.2 < sum(share(w, "cluster-1") for w in early) / len(early) < 0.8
    # every answer below 500 came from one edge or the other (the health probes are not
    # counted); a SIGKILLed edge-1 loses the access-log lines it still buffered (at most 100 ms
    # of its share of 200 req/s)
    answered, logged = r["requests"] - r["failed_requests"], sum(g["requests_per_edge"].values())
    if name == "local-clusters-down":
        assert logged == answered, (g["requests_per_edge"], answered)
    else:
        assert answered - 40 <= logged <= answered, (g["requests_per_edge"], answered)
    # the GSLB dropped edge-1, the load's next answer had edge-2 only, and all traffic moved
    assert g["edge1_down_at_gslb_seconds"] is not None, r["events"]
    assert g["answer_without_edge1_seconds"] is not None, r["events"]
    assert g["edge1_down_at_gslb_seconds"] <= g["answer_without_edge1_seconds"] + 0.1
    assert g["edge2_only_seconds"] is not None
    outage = [w for w in r["timeline"] if 3.0 + g["edge2_only_seconds"] < w["t"] <= 8.0]
    assert outage and all(share(w, "cluster-2") == 1.0 for w in outage if w["requests"])
    assert all(w["failed"] == 0 for w in outage)
    probes = g["edge1_probes"]
    for form in ("x-healthcheck", "url"):
        assert set(probes[form]["before"]) == {"200"}, probes
        assert set(probes[form]["after"]) >= {"200"}, probes
    if name == "local-clusters-down":
        # the guide's scenario 3: real traffic fails over cross-region with no failure, while the
        # health check (the guide's header form and the URL form) answers 503
        assert r["failed_requests"] == 0, r["status"]
        assert set(probes["x-healthcheck"]["outage"]) == {"503"}, probes
        assert set(probes["url"]["outage"]) == {"503"}, probes
    else:
        # edge-1 is gone: its probes get no answer, and the failed requests are reported
        assert set(probes["url"]["outage"]) == {"no_answer"}, probes
        assert r["failed_requests"] == r["status"].get("0", 0) + sum(
            n for code, n in r["status"].items() if code != "0" and int(code) >= 500)

    ns = {"s": "http://www.w3.org/2000/svg"}
    for chart, what in (("report.svg", "cluster"), ("report-edges.svg", "edge")):
        svg = ET.parse(report / chart).getroot()
        labels = " ".join(t.text or "" for t in svg.iterfind(".//s:text", ns))
        assert f"requests per {what} per 100 ms" in labels, chart
        # the markers name the moments the report gives (about 3 s and 8 s)
        assert f"failure at {r['failure']['at_s']:.1f} s" in labels, labels
        assert f"restore at {r['restore']['at_s']:.1f} s" in labels, labels


# ---------------------------------------------------------------- --ha


def events(r, who=None, text=""):
    return [e for e in r["events"] if (who is None or e["who"] == who) and text in e["text"]]


def check_ha_report(r, name):
    """What both --ha drills show: no failed request, the change (bookinfo-ingress-1 deleted at
    the failure) served by the edge, so that cluster-2 takes all the traffic until the restore
    applies it again, and no instance dropped from the control plane."""
    assert r["scenario"] == name and r["mode"] == "ha", r["mode"]
    ha = r["ha"]
    assert ha["etcd"] == ["127.0.5.1:2379", "127.0.5.2:2379", "127.0.5.3:2379"]
    assert ha["controls"] == ["http://127.0.0.1:7070", "http://127.0.5.10:7070"]
    assert r["failed_requests"] == 0, r["status"]
    assert sum(r["status"].values()) == r["requests"] == sum(w["requests"] for w in r["timeline"])
    [deleted] = events(r, "control", "Gateway bookinfo-ingress-1 deleted")
    [created] = events(r, "control", "Gateway bookinfo-ingress-1 created")
    assert r["failure"]["at_s"] <= deleted["t"] < r["restore"]["at_s"] <= created["t"]
    # the edge took the change: a new config after the delete, then traffic on cluster-2 only
    served = [e for e in events(r, "edge", " applied (control plane)")
              if deleted["t"] <= e["t"] < r["restore"]["at_s"]]
    assert served, r["events"]
    after = [w for w in r["timeline"] if served[0]["t"] + 0.5 < w["t"] <= r["restore"]["at_s"]]
    assert after and all(share(w, "cluster-2") == 1.0 for w in after if w["requests"]), after
    assert r["recovery_seconds"] is not None and r["recovery_seconds"] <= 3.0
    assert len(ha["instances_at_failure"]) == 4, ha  # ingress-1, ingress-2, edge, edge-2
    # both replicas answer at the end (null: one did not list its instances)
    assert all(ids is not None for ids in ha["instances_at_end"].values()), ha
    # what the report counts as dropped: instances at the failure missing at a replica at the end
    missing = {i for ids in ha["instances_at_end"].values() for i in ha["instances_at_failure"]
               if i not in ids}
    assert ha["instances_dropped"] == len(missing), ha
    return ha, deleted


@needs_etcd
def test_ha_etcd_member_down(demo, tmp_path):
    """--ha, etcd-member-down: the etcd leader (found by /v3/maintenance/status) is SIGKILLed and
    a change applied while the two others elect a new one; the change is served, no request
    fails, no instance is dropped (the replica the gateways heartbeat cannot write renewals
    during the election; the other gives the leases it knows only from etcd one TTL of grace),
    and the member restarts."""
    r = run_scenario(demo, "etcd-member-down", tmp_path / "report", "--ha")
    ha, deleted = check_ha_report(r, "etcd-member-down")
    killed = ha["killed"]
    assert killed in ("etcd-1", "etcd-2", "etcd-3") and killed == ha["etcd_leader_at_failure"], ha
    assert r["failure"]["action"].startswith(f"SIGKILL {killed} (pid "), r["failure"]
    assert "the etcd leader" in r["failure"]["action"]
    # another member took the lead after the kill, as etcd's own log says
    led = [e for e in events(r, text="became leader at term") if e["t"] >= r["failure"]["at_s"]]
    assert led and all(e["who"] != killed for e in led), led
    assert r["restore"]["action"].startswith(f"start {killed} again (pid "), r["restore"]
    assert ha["etcd_leader_at_end"] is not None
    assert ha["instances_dropped"] == 0, ha
    assert not events(r, text="gone: lease expired"), r["events"]


@needs_etcd
def test_ha_control_plane_down(demo, tmp_path):
    """--ha, control-plane-down: the replica every gateway watches is SIGKILLed; their logs say
    they move to the other, the demo's delete goes through the survivor, the edge serves it from
    there, and no request fails and no instance is dropped."""
    r = run_scenario(demo, "control-plane-down", tmp_path / "report", "--ha")
    ha, deleted = check_ha_report(r, "control-plane-down")
    assert ha["killed"] == "control", ha
    assert r["failure"]["action"].startswith("SIGKILL control (pid "), r["failure"]
    assert deleted["text"].endswith("(through control-2)"), deleted
    # every gateway said it moves to the survivor, and ends there
    for gw in ("edge", "edge-2", "ingress-1", "ingress-2"):
        assert events(r, gw, "trying http://127.0.5.10:7070"), (gw, r["events"])
        assert ha["gateways"][gw] == "http://127.0.5.10:7070", ha["gateways"]
    # no instance was dropped: every instance known at the failure is known at the end at both
    # replicas, and no gateway had to register again
    for replica, ids in ha["instances_at_end"].items():
        assert set(ids) >= set(ha["instances_at_failure"]), (replica, ha)
    assert ha["instances_dropped"] == 0
    assert not events(r, text="control plane forgot instance"), r["events"]
    assert r["restore"]["action"].startswith("start control again (pid "), r["restore"]


def test_ha_drill_without_ha_is_one_line(tmp_path):
    for name in HA_SCENARIOS:
        p = subprocess.run([BIN, "demo", "--scenario", name], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        assert p.returncode == 2
        assert p.stderr == (f"crossgate demo: scenario {name} needs --ha (a 3-member etcd and "
                            "two control-plane replicas)\n")
        assert p.stdout == ""


# ---------------------------------------------------------------- the live demo


def test_live_demo_serves_the_guide_and_stops_on_sigterm(demo):
    """Without a terminal the demo runs until SIGTERM, prints a line a second, and the guide's
    curl works through the edge; SIGTERM leaves nothing behind."""
    d = demo()
    pids = d.wait_table()
    assert d.p.poll() is None
    status, body = get_productpage()
    assert (status, body) == (200, "productpage from cluster-1\n")
    # the README's https variant, with the demo web CA the table names
    m = re.search(r"curl --cacert (\S+) --connect-to (\S+) (https://\S+)", d.stdout())
    assert m, d.stdout()
    r = subprocess.run(["curl", "-sS", "--cacert", m[1], "--connect-to", m[2], m[3]],
                       capture_output=True, text=True, timeout=20)
    assert r.stdout == "productpage from cluster-1\n", r.stderr
    # edge -> ingress is mTLS: status marks each ingress endpoint, and lists each exactly once
    token = (d.run_dir / "control-data" / "admin.token").read_text().strip()
    st = subprocess.run([BIN, "status"], capture_output=True, text=True, timeout=20,
                        env=dict(os.environ, CROSSGATE_TOKEN=token)).stdout
    assert "127.0.1.1:15443 (mTLS)" in st and "127.0.2.1:15443 (mTLS)" in st, st
    assert "127.0.1.1:8080" not in st, st
    wait_for(lambda: re.search(r"^\s+1\.0s\s+rps\s+\d+\s+cluster-1:\d+", d.stdout(), re.M), 10,
             "a per-second line")
    os.kill(d.p.pid, signal.SIGTERM)
    assert d.wait(20) == 0, d.stderr()
    assert "stopped every process" in d.stdout()
    assert_nothing_left(d.run_dir, pids)


def test_sigint_during_start_up_stops_everything(demo):
    """Ctrl-C while the demo is still starting its children."""
    d = demo()
    wait_for(lambda: processes_mentioning(str(d.run_dir)), 10, "the first child")
    os.kill(d.p.pid, signal.SIGINT)
    assert d.wait(20) != 0 or "stopped every process" in d.stdout()
    assert_nothing_left(d.run_dir, list(table_pids(d.stdout()).values()))


def test_killed_demo_takes_its_children_along(demo):
    """SIGKILL cannot be handled: the children get SIGTERM from the kernel (PR_SET_PDEATHSIG)."""
    d = demo()
    pids = d.wait_table()
    d.kill()
    assert_nothing_left(d.run_dir, pids)


# ---------------------------------------------------------------- bad input


def test_port_taken_is_one_line_and_starts_nothing(demo, tmp_path):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(EDGE)
        s.listen()
        d = demo()
        rc = d.wait(10)
    assert rc != 0
    assert d.stderr() == "crossgate demo: 127.0.0.1:8080 is already in use\n"
    assert not d.run_dir.exists()
    assert not processes_mentioning(str(d.run_dir))
    for host, port in PORTS:
        assert not tcp_connectable(host, port)


def test_unknown_scenario_lists_the_valid_ones(tmp_path):
    p = subprocess.run([BIN, "demo", "--scenario", "meteor-strike"], capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert lines[0] == 'crossgate demo: unknown scenario "meteor-strike"; the scenarios are:'
    assert [ln.split()[0] for ln in lines[1:]] == SCENARIOS + GSLB_SCENARIOS + HA_SCENARIOS
    assert p.stdout == ""
