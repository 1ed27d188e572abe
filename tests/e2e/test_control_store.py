"""The control plane's store across restarts, as real processes on 127.0.87.0/24 and
127.0.88.0/24: snapshot versions never go backwards (a gateway that holds version N takes the
next config of a restarted control plane), an apply carrying metadata.resourceVersion is
compare-and-swap (409 on a stale one), and instance leases outlive a restart.

Layout and helpers: dynamic_env.py (Env with this module's blocks).
"""

import json
import time

import pytest

from support import http_request
from dynamic_env import Env, Load, describe_failures, procs, wait_until  # noqa: F401

BLOCK = 87
BULK_BLOCK = 88

# Enough snapshot versions, quickly, to run ahead of the wall clock in ms: BULK instances whose
# Gateway changes ROUNDS times.
BULK = 200
ROUNDS = 40


@pytest.fixture
def env(procs, tmp_path):  # noqa: F811
    return Env(procs, tmp_path, block=BLOCK)


def api(env, method, path, body=None):
    st, _, b = http_request(method, env.cp.url + path, body=body,
                            headers={"Authorization": f"Bearer {env.cp.token}"})
    return st, b


def bulk_gateway(k):
    return f"""apiVersion: crossgate/v1
kind: Gateway
metadata: {{name: bulk}}
spec:
  workloadSelector: {{namespace: bulk, labels: {{app: bulk}}}}
  http:
  - name: bulk
    port: 8080
    hostname: bulk-{k}.example
    routing:
      rules:
      - directResponse: {{status: 200}}
"""


def versions_issued(env):
    return [i["snapshot_version"] for i in env.cp.status()["instances"]]


def test_restarted_control_plane_continues_above_every_version_handed_out(env):
    env.start_all()
    # many instances whose snapshot changes on every apply: versions run ahead of the clock
    for i in range(BULK):
        reg = json.dumps({"cluster": "cluster-1", "namespace": "bulk", "labels": {"app": "bulk"},
                          "address": f"127.0.{BULK_BLOCK}.{i + 1}"})
        assert api(env, "POST", "/v1/instances", reg)[0] == 200
    for k in range(ROUNDS):
        st, b = api(env, "POST", "/v1/apply", bulk_gateway(k))
        assert st == 200, b
    # and last the edge's: it holds the highest version handed out
    env.cp.apply(env.f_edge["named-1-2"])
    top = max(versions_issued(env))
    wait_until(lambda: env.edge.version() == top, what="the edge to take the last version")
    ahead_ms = top - int(time.time() * 1000)

    env.cp.kill9()
    env.cp.start()
    env.cp.apply(env.f_edge["named-2"])
    # the edge, still holding version top, takes the restarted control plane's config
    env.wait_edge_endpoints((2,), timeout=10,
                            what="the edge to take the restarted control plane's named [cluster-2]")
    v_new = env.edge.version()
    print(f"\nversions ran {ahead_ms} ms ahead of the wall clock; the edge held {top} before the "
          f"restart and {v_new} after it")
    assert v_new > top
    assert all(v > top for v in versions_issued(env) if v), versions_issued(env)
