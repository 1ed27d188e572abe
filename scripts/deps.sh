#!/usr/bin/env bash
# Installs the Debian packages crossgate builds, tests and benchmarks with.
# Idempotent: prints nothing and touches nothing when everything is present.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  node-llhttp        # llhttp C sources, compiled into the binary
  libfyaml-dev       # YAML resources with line/column
  libsqlite3-dev     # control-plane store
  etcd-server etcd-client  # the etcd store's e2e tests start a real etcd (tests/e2e/test_control_etcd.py)
  libssl-dev         # OpenSSL 3: token digests, TLS
  libnghttp2-dev     # HTTP/2 downstream codec
  openssl            # the CLI, for the TLS tests (s_client)
  libcmocka-dev      # unit tests
  python3 python3-pytest python3-websockets  # end-to-end tests (websockets: a real WebSocket client and server)
  curl
  nghttp2-client python3-h2  # HTTP/2 peers: nghttp, h2load, a raw h2 client for the adversarial tests
  pdns-server pdns-backend-bind  # a real DNS server: the demo's GSLB, the e2e tests of crossgate load --resolve-via
  wrk haproxy nginx-light # benchmarks and peers
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Packaged servers must not squat on ports our tests and benches use.
for svc in nginx haproxy pdns; do
  if command -v service >/dev/null 2>&1; then $SUDO service "$svc" stop >/dev/null 2>&1 || true; fi
done
