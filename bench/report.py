#!/usr/bin/python3
"""Helpers for bench/run.sh (Python 3 stdlib only).

  report.py portfree PORT...
      exit 0 if every PORT can be bound on 127.0.0.1, else print the first busy one
      and exit 1.
  report.py round RAW_JSONL PROXY ROUND WRK_OUTPUT CPU_TICKS CLK_TCK WALL_S [KEY=NUM...]
      parse one wrk --latency (or h2load) output, append one JSON line with the round's figures
      to RAW_JSONL and print a one-line human summary; exit 1 if wrk completed nothing.
  report.py summary RAW_JSONL META_JSON OUT_JSON
      print the summary table and ratios, write OUT_JSON.
"""

import json
import re
import socket
import statistics
import sys

DISTURBED_PERCENT = 10.0  # "others on it" above this: the round shared the proxy's CPU
FEATURE_GOAL_PERCENT = 5.0  # tracked goal: a feature costs <= this much CPU/request over plain
# A variant is its base proxy with one thing changed (bench/run.sh BENCH_MODE=features|workers2);
# its ratio to the base is printed.
VARIANTS = {
    "crossgate-edge": ("crossgate", "the edge role: two clusters, retries, outlier detection, "
                                    "health checks"),
    "crossgate-log": ("crossgate", "access log to a file"),
    "crossgate-resilient": ("crossgate", "retries + outlier detection + active health checks"),
    "crossgate-w2": ("crossgate", "--workers 2"),
    "haproxy-w2": ("haproxy", "nbthread 2"),
    "nginx-w2": ("nginx", "worker_processes 2"),
}
FEATURES = ("crossgate-log", "crossgate-resilient")
WORKERS2 = ("crossgate-w2", "haproxy-w2", "nginx-w2")
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
SCALE = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def _ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        return None
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(text):
    """Figures of one `wrk --latency` run (None where wrk did not print them)."""
    out = {"requests": None, "wrk_seconds": None, "rps": None, "p50_ms": None,
           "p90_ms": None, "p99_ms": None, "non_2xx_3xx": 0,
           "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
        out["wrk_seconds"] = float(m.group(2)) * UNIT_MS[m.group(3)] / 1000.0
    m = re.search(r"^Requests/sec:\s*([0-9.]+)([kKMG]?)", text, re.M)
    if m:
        out["rps"] = float(m.group(1)) * SCALE[m.group(2)]
    for pct, key in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s*%s(?:\.0+)?%%\s+(\S+)" % pct, text, re.M)
        if m:
            out[key] = _ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                        map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if m:
        out["non_2xx_3xx"] = int(m.group(1))
    return out


def parse_h2load(text):
    """Figures of one h2load run, in parse_wrk's keys (h2load prints no percentiles: p50/p90/p99
    stay None; mean_ms is its mean time per request)."""
    out = {"requests": None, "wrk_seconds": None, "rps": None, "p50_ms": None,
           "p90_ms": None, "p99_ms": None, "mean_ms": None, "non_2xx_3xx": 0,
           "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"^finished in ([0-9.]+)(us|ms|s|m|h), ([0-9.]+) req/s", text, re.M)
    if m:
        out["wrk_seconds"] = float(m.group(1)) * UNIT_MS[m.group(2)] / 1000.0
        out["rps"] = float(m.group(3))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if m:
        total, started, done, ok, failed, errored, timeout = map(int, m.groups())
        out["requests"] = done
        out["socket_errors"].update(read=errored, timeout=timeout)
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if m:
        out["non_2xx_3xx"] = int(m.group(3)) + int(m.group(4))
    m = re.search(r"^time for request:\s+\S+\s+\S+\s+(\S+)", text, re.M)
    if m:
        out["mean_ms"] = _ms(m.group(1))
    return out


def cmd_portfree(ports):
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # SO_REUSEADDR: TIME_WAIT leftovers do not count, only a live listener/bind.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", int(p)))
        except OSError as e:
            print(p)
            return 1
        finally:
            s.close()
    return 0


def cmd_round(raw_file, proxy, rnd, wrk_file, ticks, clk_tck, wall_s, *extra):
    try:
        with open(wrk_file, encoding="utf-8", errors="replace") as f:
            text = f.read()
        r = parse_h2load(text) if re.search(r"^finished in ", text, re.M) else parse_wrk(text)
    except OSError:
        r = parse_wrk("")
    for kv in extra:  # e.g. load_cpu_busy_percent=97.1 proxy_cpu_steal_percent=0.3
        k, _, v = kv.partition("=")
        try:
            r[k] = float(v)
        except ValueError:
            r[k] = None
    ticks, clk_tck, wall_s = int(ticks), int(clk_tck), float(wall_s)
    cpu_us = ticks * 1e6 / clk_tck
    r.update(proxy=proxy, round=int(rnd), cpu_ticks=ticks, clk_tck=clk_tck,
             cpu_us=cpu_us, wall_seconds=wall_s,
             cpu_percent=(100.0 * cpu_us / 1e6 / wall_s) if wall_s > 0 else None,
             cpu_us_per_req=(cpu_us / r["requests"]) if r["requests"] else None)
    busy = r.get("proxy_cpu_busy_percent")
    if busy is not None and r["cpu_percent"] is not None:
        # Time the proxy's CPU was busy with something other than the proxy: other jobs
        # on a shared machine (or, unpinned, wrk and the backend).
        r["proxy_cpu_others_percent"] = max(0.0, busy - r["cpu_percent"])
    with open(raw_file, "a", encoding="utf-8") as f:
        f.write(json.dumps(r) + "\n")
    errs = sum(r["socket_errors"].values()) + r["non_2xx_3xx"]
    tls = ""
    if r.get("tls_handshakes") is not None:
        tls = ", %d handshakes, %d resumed" % (r["tls_handshakes"], r.get("tls_resumed") or 0)
    print("%-19s %9s req/s  p99 %7s ms  CPU %6s us/req  (proxy CPU %s%%, others on it %s%%, "
          "load CPU %s%%, steal %s%%, %d requests%s%s)" % (
              proxy, _fmt(r["rps"], ".0f", 9), _fmt(r["p99_ms"], ".2f", 7),
              _fmt(r["cpu_us_per_req"], ".2f", 6), _fmt(r["cpu_percent"], ".0f", 3),
              _fmt(r.get("proxy_cpu_others_percent"), ".0f", 1),
              _fmt(r.get("load_cpu_busy_percent"), ".0f", 1),
              _fmt(r.get("proxy_cpu_steal_percent"), ".0f", 1),
              r["requests"] or 0, tls, (", %d ERRORS" % errs) if errs else ""))
    return 0 if r["requests"] else 1


def _med(rows, key):
    vals = [x[key] for x in rows if x.get(key) is not None]
    return statistics.median(vals) if vals else None


def _div(a, b):
    return a / b if a is not None and b else None


def _fmt(v, spec, width):
    return ("%" + spec) % v if v is not None else "-".rjust(width)


def cmd_summary(raw_file, meta_file, out_file):
    with open(meta_file, encoding="utf-8") as f:
        meta = json.load(f)
    rounds = []
    with open(raw_file, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rounds.append(json.loads(line))
    order = meta.get("proxies", [])
    summary = {}
    for p in order:
        rows = [r for r in rounds if r["proxy"] == p]
        if not rows:
            continue
        rps = [r["rps"] for r in rows if r["rps"] is not None]
        summary[p] = {
            "rounds": len(rows),
            "rps_median": _med(rows, "rps"),
            "rps_min": min(rps) if rps else None,
            "rps_max": max(rps) if rps else None,
            "p99_ms_median": _med(rows, "p99_ms"),
            "p50_ms_median": _med(rows, "p50_ms"),
            "cpu_us_per_req_median": _med(rows, "cpu_us_per_req"),
            "cpu_percent_median": _med(rows, "cpu_percent"),
            "load_cpu_busy_percent_median": _med(rows, "load_cpu_busy_percent"),
            "proxy_cpu_steal_percent_median": _med(rows, "proxy_cpu_steal_percent"),
            "requests_total": sum(r["requests"] or 0 for r in rows),
            "rounds_disturbed": sum(1 for r in rows
                                    if (r.get("proxy_cpu_others_percent") or 0) > DISTURBED_PERCENT),
            "errors_total": sum(sum(r["socket_errors"].values()) + r["non_2xx_3xx"]
                                for r in rows),
        }
        if any(r.get("tls_handshakes") is not None for r in rows):
            summary[p]["tls_handshakes_total"] = int(sum(r.get("tls_handshakes") or 0 for r in rows))
            summary[p]["tls_resumed_total"] = int(sum(r.get("tls_resumed") or 0 for r in rows))

    ratios = {}

    def ratio(a, b):            # ratios["a/b"] of the medians, when both have figures
        sa, sb = summary.get(a), summary.get(b)
        if not sa or not sb:
            return
        ratios[a + "/" + b] = {k: _div(sa[k + "_median"], sb[k + "_median"])
                               for k in ("rps", "cpu_us_per_req", "p99_ms")}

    for suffix in ("", "-w2"):  # crossgate against its peers, 1 worker and 2
        for peer in ("haproxy", "nginx"):
            ratio("crossgate" + suffix, peer + suffix)
    if meta.get("mode") == "h2":
        ratio("nginx", "haproxy")  # the peers to each other, whether crossgate has h2 or not
    for v, (base, _) in VARIANTS.items():
        ratio(v, base)
        if v + "/" + base in ratios:
            # the same ratio taken round by round (a variant and its base run back to back in
            # a round), then the median: less exposed to the machine drifting between rounds
            for k in ("rps", "cpu_us_per_req"):
                ratios[v + "/" + base][k + "_paired"] = _paired(rounds, v, base, k)

    out = {"meta": meta, "rounds": rounds, "summary": summary, "ratios": ratios,
           "skipped": meta.get("skipped", {})}
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    n = meta.get("rounds")
    mode = meta.get("mode", "plain")
    # handshake mode: one request per connection, so a request is a full handshake
    unit = "hs" if mode == "handshake" else "req"
    print()
    print("== summary (%s): median of %s round(s) x %ss, %s ==" %
          (mode, n, meta.get("duration_s"),
           meta.get("load") or "%s conns, wrk -t%s" % (meta.get("conns"), meta.get("wrk_threads"))))
    for p, info in sorted(meta.get("tls", {}).items()):
        print("%-14s %s" % (p, info))
    hdr = "%-19s %9s %14s %8s %11s %9s %8s %6s" % (
        "proxy", unit + "/s", unit + "/s min-max", "p99 ms", "CPU us/" + unit, "proxy CPU",
        "load CPU", "errors")
    print(hdr)
    print("-" * len(hdr))
    for p in order:
        s = summary.get(p)
        if s is None:
            print("%-14s %s" % (p, "SKIPPED: " + meta.get("skipped", {}).get(p, "no data")))
            continue
        rng = ("%.0f-%.0f" % (s["rps_min"], s["rps_max"])) if s["rps_min"] is not None else "-"
        print("%-19s %9s %14s %8s %11s %8s%% %7s%% %6d" % (
            p, _fmt(s["rps_median"], ".0f", 9), rng, _fmt(s["p99_ms_median"], ".2f", 8),
            _fmt(s["cpu_us_per_req_median"], ".2f", 11),
            _fmt(s["cpu_percent_median"], ".0f", 8),
            _fmt(s["load_cpu_busy_percent_median"], ".0f", 7), s["errors_total"]))
    for p, why in meta.get("skipped", {}).items():
        if p in summary:
            print("NOTE: %s: %s" % (p, why))
    if ratios:
        print()
        print("%-30s %12s %16s %12s" % ("ratio", unit + "/s", "CPU us/" + unit, "p99"))
        for k, v in ratios.items():
            print("%-30s %12s %16s %12s" % (k, _fmt(v["rps"], ".2f", 12),
                                             _fmt(v["cpu_us_per_req"], ".2f", 16),
                                             _fmt(v["p99_ms"], ".2f", 12)))
        print("(%s/s ratio > 1: crossgate serves more; CPU us/%s ratio < 1: crossgate "
              "spends less CPU per %s)" % (unit, unit,
                                           "handshake" if unit == "hs" else "request"))
        goal = ratios.get("crossgate/haproxy")
        if mode in ("tls", "handshake") and goal and None not in (goal["rps"], goal["cpu_us_per_req"]):
            print("tracked goal vs haproxy: %s/s >= 1.10x (%.2f, %s), CPU us/%s <= 0.90x "
                  "(%.2f, %s)" % (unit, goal["rps"], "met" if goal["rps"] >= 1.10 else "not met",
                                  unit, goal["cpu_us_per_req"],
                                  "met" if goal["cpu_us_per_req"] <= 0.90 else "not met"))
    elif "crossgate" not in summary:
        print("\n(no ratios: crossgate has no figures)")
    _print_variants(summary, ratios)
    loads = [s["load_cpu_busy_percent_median"] for s in summary.values()
             if s.get("load_cpu_busy_percent_median") is not None]
    if loads and max(loads) >= 90:
        print("NOTE: the load CPU (wrk + backend) was >= 90%% busy, so %s/s is partly "
              "load-bound; CPU us/%s is the figure to trust." % (unit, unit))
    disturbed = ["%s %d/%d" % (p, s["rounds_disturbed"], s["rounds"])
                 for p, s in summary.items() if s["rounds_disturbed"]]
    if disturbed:
        print("NOTE: rounds where something else took more than %.0f%% of the proxy's CPU: %s; "
              "a rerun on a quieter machine is worth it" % (DISTURBED_PERCENT, ", ".join(disturbed)))
    for p, s in summary.items():
        if "tls_handshakes_total" in s:
            print("%s: %d TLS handshakes, %d resumed (its own counters)" %
                  (p, s["tls_handshakes_total"], s["tls_resumed_total"]))
            if mode == "handshake" and s["tls_resumed_total"]:
                print("WARNING: %s resumed sessions: not all handshakes were full" % p)
    if any(s["errors_total"] for s in summary.values()):
        print("WARNING: some rounds had socket errors or non-2xx responses; see results.json")
    return 0


def _paired(rounds, a, b, key):
    by = {}
    for r in rounds:
        if r.get(key) is not None:
            by[(r["proxy"], r["round"])] = r[key]
    vals = [by[(a, n)] / by[(b, n)] for (p, n) in by if p == a and by.get((b, n))]
    return statistics.median(vals) if vals else None


def _goal(cpu_pct):
    return "-" if cpu_pct is None else ("met" if cpu_pct <= FEATURE_GOAL_PERCENT else "not met")


def _pct_over(r):
    return 100.0 * (r - 1.0) if r is not None else None


def _print_variants(summary, ratios):
    """The features' cost over the plain route and the 2-worker scaling, when they ran."""
    feats = [v for v in FEATURES if v + "/crossgate" in ratios]
    if feats:
        print()
        print("cost of features over the plain route (crossgate, medians; goal: CPU/req <= +%.0f %%)"
              % FEATURE_GOAL_PERCENT)
        print("%-20s %-50s %10s %10s %8s  %s" % ("variant", "feature", "CPU us/req", "req/s",
                                                 "(paired", "CPU, req/s)  goal: median / paired"))
        for v in feats:
            r = ratios[v + "/crossgate"]
            cpu = _pct_over(r["cpu_us_per_req"])
            print("%-20s %-50s %10s %10s %8s %9s    %s" % (
                v, VARIANTS[v][1], _fmt(cpu, "+.1f%%", 10), _fmt(_pct_over(r["rps"]), "+.1f%%", 10),
                _fmt(_pct_over(r["cpu_us_per_req_paired"]), "+.1f%%", 8),
                _fmt(_pct_over(r["rps_paired"]), "+.1f%%", 9),
                _goal(cpu) + " / " + _goal(_pct_over(r["cpu_us_per_req_paired"]))))
        print("(% over the plain route's median; paired: the median of each round's own ratio)")
    w2 = [v for v in WORKERS2 if v + "/" + VARIANTS[v][0] in ratios]
    if w2:
        print()
        print("2 workers vs 1 (medians): scaling = 2-worker req/s / 1-worker req/s")
        print("%-14s %-22s %10s %10s %8s %8s %14s" % ("proxy", "2 workers", "1w req/s", "2w req/s",
                                                       "scaling", "paired", "CPU/req 2w/1w"))
        for v in w2:
            base = VARIANTS[v][0]
            r = ratios[v + "/" + base]
            print("%-14s %-22s %10s %10s %8s %8s %14s" % (
                base, VARIANTS[v][1], _fmt(summary[base]["rps_median"], ".0f", 10),
                _fmt(summary[v]["rps_median"], ".0f", 10), _fmt(r["rps"], ".2f", 8),
                _fmt(r["rps_paired"], ".2f", 8), _fmt(r["cpu_us_per_req"], ".2f", 14)))
        print("(2 CPUs shared by the proxy, wrk and the backend, unpinned: a 2-worker proxy "
              "competes with its own load, so scaling well under 2.0 is the machine, not only "
              "the proxy)")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "portfree":
        return cmd_portfree(args)
    if cmd == "round" and len(args) >= 7:
        return cmd_round(*args)
    if cmd == "summary" and len(args) == 3:
        return cmd_summary(*args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
