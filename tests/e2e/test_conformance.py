"""HTTP/1.1 conformance and request-smuggling suite, as data, through the real gateway.

The cases live in tests/conformance/requests.txt and responses.txt (their format is documented
at the top of each file; every case cites the public suite or RFC section it comes from). One
gateway per module, in static mode with one worker, serves two ports:

* the request port routes to a recording upstream (tests/conformance/harness.py) that keeps
  every byte it receives, parses it with the strict parser (tests/conformance/strict.py) and
  answers each request `200 ok`. Each case is sent in one write; a barrier request through the
  same gateway, followed by a drain of every upstream socket, tells when everything the
  gateway forwarded for the case has arrived, so "the upstream received zero bytes" is checked
  without sleeping;
* the response port routes to a scripted upstream that answers with the case's raw bytes.

The contract judged here (the gateway's request path):
  Content-Length 1*DIGIT (<= 2^62), anything else, lists and duplicates: 400; CL with TE: 400.
  Transfer-Encoding exactly one `chunked` field; a well-formed list naming another coding:
  501; a malformed list or two fields or TE in HTTP/1.0: 400. Invalid chunked bodies: 400
  with nothing forwarded. Request line METHOD SP target SP HTTP/1.x: else 400, HTTP/2+ 505,
  CONNECT 405, over 8 KiB 414. Field syntax errors, obs-fold, bare CR/LF: 400; over 100
  fields or 64 KiB: 431. Host exactly once, non-empty, authority characters only. Origin-form
  as is; absolute-form to origin-form with its host as Host; `*` for OPTIONS only; no
  fragment. Hop-by-hop and Connection-named fields dropped, never the framing, Host or the
  gateway's own fields; the gateway frames what it forwards itself. Bad upstream responses:
  502 and the upstream connection closed.

Nothing is marked xfail: every case passes, and a regression fails `make test`.
"""

import sys
from pathlib import Path

import pytest

from conftest import free_port, gateway_doc, server, service_doc, to_service, yaml_docs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
import harness  # noqa: E402  (tests/conformance is not a package)

# NET 127.0.18.0/24: gateway .1, recording upstream .20, scripted upstream .21, client .99
NET = "127.0.18"
GW = f"{NET}.1"
CLIENT = f"{NET}.99"

REQUEST_CASES = harness.load_cases(harness.REQUESTS_FILE)
RESPONSE_CASES = harness.load_cases(harness.RESPONSES_FILE)


class Env:
    def __init__(self, proxy, recorder, scripted, gateway):
        self.proxy, self.recorder, self.scripted, self.gateway = proxy, recorder, scripted, gateway


@pytest.fixture(scope="module")
def env(module_procs):
    g = module_procs
    recorder = harness.RecordingUpstream(f"{NET}.20")
    g.servers.append(recorder)
    scripted = harness.ScriptedUpstream(f"{NET}.21")
    g.servers.append(scripted)
    req_port, resp_port = free_port(GW), free_port(GW)
    resources = {
        "services.yaml": yaml_docs(
            service_doc("cluster-1", [(recorder.host, recorder.port)], name="recorder",
                        hostname="recorder.bookinfo.svc.cluster.local"),
            service_doc("cluster-1", [(scripted.host, scripted.port)], name="scripted",
                        hostname="scripted.bookinfo.svc.cluster.local")),
        "gateway.yaml": yaml_docs(gateway_doc([
            server("requests", req_port, "*", [
                to_service(recorder.port, "bookinfo/recorder.bookinfo.svc.cluster.local")]),
            server("responses", resp_port, "*", [
                to_service(scripted.port, "bookinfo/scripted.bookinfo.svc.cluster.local")]),
        ])),
    }
    # one worker: one event loop handles the case and then the barrier, in that order
    gw = g.gateway(GW, resources, workers=1, wait_ports=(req_port, resp_port))
    return Env(harness.Proxy("crossgate", GW, req_port, resp_port, source=CLIENT),
               recorder, scripted, gw)


def _explain(case, out_client):
    raw = out_client.raw if out_client else b""
    return (f"\n  sources: {'; '.join(case.sources)}"
            f"\n  sent: {case.data[:300]!r}"
            f"\n  client got: {raw[:300]!r}")


def test_case_files_are_complete():
    assert len(REQUEST_CASES) >= 130 and len(RESPONSE_CASES) >= 35
    for c in REQUEST_CASES + RESPONSE_CASES:
        assert c.sources and c.expect, c.name


@pytest.mark.parametrize("case", REQUEST_CASES, ids=[c.name for c in REQUEST_CASES])
def test_request(env, case):
    env.gateway.proc.check_alive()  # a crashed gateway fails each case at once, not by deadline
    out = harness.run_request_case(case, env.proxy, env.recorder)
    v = harness.judge_request(case, out, peer=CLIENT)
    assert v.ok, f"{case.name}: expected {case.expect} {case.status or ''}: {v.reason}" + \
        _explain(case, out.client)


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=[c.name for c in RESPONSE_CASES])
def test_response(env, case):
    env.gateway.proc.check_alive()
    out = harness.run_response_case(case, env.proxy, env.scripted)
    v = harness.judge_response(case, out)
    assert v.ok, f"{case.name}: expected {case.expect} {case.status or ''}: {v.reason}" + \
        _explain(case, out.client)


def test_gateway_survived_the_suite(env):
    env.gateway.proc.check_alive()
    assert env.gateway.admin_get("/ready")[0] == 200
