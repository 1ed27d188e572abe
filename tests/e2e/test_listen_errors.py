"""A listener that cannot be opened at start-up is reported with the error that happened."""

import resource
import subprocess

from conftest import BIN, direct, free_port, gateway_doc, server, yaml_docs

NET = "127.0.61"


def test_listen_failure_reports_the_real_error_not_permission_denied(tmp_path):
    # each of 16 workers opens its own socket on the port; 12 descriptors run out first (EMFILE),
    # and the hard limit stops the gateway raising the soft one
    host = f"{NET}.2"
    port = free_port(host)
    path = tmp_path / "gw.yaml"
    path.write_text(yaml_docs(gateway_doc([server("web", port, "*", [direct(200)])])))

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (12, 12))

    p = subprocess.run(
        [BIN, "gateway", "--cluster", "cluster-1", "--namespace", "bookinfo",
         "--label", "app=ingressgw-1", "--address", host, "--admin", "off",
         "--access-log", "off", "--workers", "16", "-f", str(path)],
        capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
        preexec_fn=few_descriptors)
    assert p.returncode != 0, p.stderr
    assert f"cannot listen on {host}:{port}: out of local resources" in p.stderr, p.stderr
    assert "ermission denied" not in p.stderr
