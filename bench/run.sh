#!/usr/bin/env bash
# Side-by-side reverse-proxy benchmark: crossgate vs HAProxy vs nginx, same backend,
# same wrk load, alternating rounds. See bench/README.md. Prints figures; asserts nothing.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
REPORT="$BENCH_DIR/report.py"
PY=${PYTHON:-/usr/bin/python3}

# `bench/run.sh configs DIR` writes the configs of the backend and of $BENCH_PROXIES into DIR
# and prints each one's start command, one line each: ROLE<TAB>PORT<TAB>LOG<TAB>ARG0<TAB>ARG1...
# (nothing is started; other benchmarks, e.g. bench/idle.py, start them themselves).
CONFIGS_ONLY=
if [[ ${1:-} == configs ]]; then
    [[ -n ${2:-} && -d $2 ]] || { echo "usage: bench/run.sh configs DIR (an existing directory)" >&2; exit 2; }
    CONFIGS_ONLY=$(cd "$2" && pwd)
fi

# ---- knobs ---------------------------------------------------------------------------
MODE=${BENCH_MODE:-plain}       # plain | tls (https, keep-alive) | handshake (a TLS connection a request)
                                # | features (crossgate's access log, resilience: their cost)
                                # | workers2 (1 vs 2 workers/threads, each proxy)
                                # | h2 (HTTP/2 over TLS, ALPN h2: h2load, CONNS x H2_STREAMS)
TLS_TICKETS=${BENCH_TLS_TICKETS:-1}     # 0: HAProxy and nginx turn resumption off (tickets, cache)
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10}; DURATION=${DURATION%s}       # seconds ("10" or "10s")
CONNS=${BENCH_CONNS:-50}
H2_STREAMS=${BENCH_H2_STREAMS:-10}     # h2: streams in flight per connection (h2load -m)
# workers2: two wrk threads and two backend workers, so a 2-worker proxy is not held to what one
# load thread can send (the 1-worker proxies get the same load)
[[ $MODE == workers2 ]] && LOAD_THREADS_DEFAULT=2 || LOAD_THREADS_DEFAULT=1
WRK_THREADS=${BENCH_THREADS:-$LOAD_THREADS_DEFAULT}
WARMUP=${BENCH_WARMUP:-2}; WARMUP=${WARMUP%s}                # seconds per proxy, 0 = none
case $MODE in
    features) DEFAULT_PROXIES="crossgate crossgate-log crossgate-resilient" ;;
    workers2) DEFAULT_PROXIES="crossgate haproxy nginx crossgate-w2 haproxy-w2 nginx-w2" ;;
    *) DEFAULT_PROXIES="crossgate haproxy nginx" ;;
esac
PROXIES=${BENCH_PROXIES:-$DEFAULT_PROXIES}
# workers2: two workers need two CPUs, and the machine's are shared with wrk and the backend,
# so nothing is pinned (one CPU for the proxy would cap the second worker at nothing).
[[ $MODE == workers2 ]] && PIN_DEFAULT=0 || PIN_DEFAULT=1
PIN=${BENCH_PIN:-$PIN_DEFAULT}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
BACKEND_WORKERS=${BENCH_BACKEND_WORKERS:-$LOAD_THREADS_DEFAULT}
PORT_BASE=${BENCH_PORT_BASE:-19080}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-10}
MAX_CONNS=${BENCH_MAX_CONNS:-}          # client connections each proxy must hold (default: CONNS)
KA_TIMEOUT=${BENCH_KEEPALIVE_TIMEOUT:-} # s; default crossgate 60, HAProxy 60, nginx 300
CROSSGATE_BIN=${CROSSGATE_BIN:-$ROOT/build/crossgate}
HAPROXY_BIN=${HAPROXY_BIN:-/usr/sbin/haproxy}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
WRK_BIN=${WRK_BIN:-/usr/bin/wrk}
H2LOAD_BIN=${H2LOAD_BIN:-/usr/bin/h2load}
case $MODE in
    plain) OUT_DIR=${BENCH_OUT:-$BENCH_DIR/out}; SCHEME=http; TLS=0 ;;
    features|workers2) OUT_DIR=${BENCH_OUT:-$BENCH_DIR/out/$MODE}; SCHEME=http; TLS=0 ;;
    tls|handshake|h2) OUT_DIR=${BENCH_OUT:-$BENCH_DIR/out/$MODE}; SCHEME=https; TLS=1 ;;
    *) echo "bench: BENCH_MODE must be plain, tls, handshake, features, workers2 or h2, got '$MODE'" >&2
       exit 1 ;;
esac

PORT_BACKEND=$PORT_BASE
PORT_CROSSGATE=$((PORT_BASE + 1))
PORT_HAPROXY=$((PORT_BASE + 2))
PORT_NGINX=$((PORT_BASE + 3))
PORT_CG_ADMIN=$((PORT_BASE + 11))
PORT_CG_EDGE=$((PORT_BASE + 4))        # crossgate-edge: the edge role, two clusters
PORT_CG_EDGE_ADMIN=$((PORT_BASE + 12))
# variants (BENCH_MODE=features|workers2): NAME-VARIANT is NAME with one thing changed
PORT_CG_LOG=$((PORT_BASE + 5));  PORT_CG_LOG_ADMIN=$((PORT_BASE + 13))    # access log to a file
PORT_CG_RES=$((PORT_BASE + 6));  PORT_CG_RES_ADMIN=$((PORT_BASE + 14))    # retries, outlier, checks
PORT_CG_W2=$((PORT_BASE + 7));   PORT_CG_W2_ADMIN=$((PORT_BASE + 15))     # --workers 2
PORT_HAPROXY_W2=$((PORT_BASE + 8))                                        # nbthread 2
PORT_NGINX_W2=$((PORT_BASE + 9))                                          # worker_processes 2
BODY='hello world'

die() { echo "bench: $*" >&2; exit 1; }

for v in ROUNDS:BENCH_ROUNDS DURATION:BENCH_DURATION CONNS:BENCH_CONNS \
         WRK_THREADS:BENCH_THREADS WARMUP:BENCH_WARMUP BACKEND_WORKERS:BENCH_BACKEND_WORKERS \
         PORT_BASE:BENCH_PORT_BASE READY_TIMEOUT:BENCH_READY_TIMEOUT \
         MAX_CONNS:BENCH_MAX_CONNS KA_TIMEOUT:BENCH_KEEPALIVE_TIMEOUT H2_STREAMS:BENCH_H2_STREAMS; do
    var=${v%%:*}
    [[ $var == MAX_CONNS || $var == KA_TIMEOUT ]] && [[ -z ${!var} ]] && continue
    [[ ${!var} =~ ^[0-9]+$ ]] || die "${v#*:} must be a whole number, got '${!var}'"
done
((ROUNDS >= 1 && DURATION >= 1 && CONNS >= 1 && WRK_THREADS >= 1 && BACKEND_WORKERS >= 1)) ||
    die "BENCH_ROUNDS, BENCH_DURATION, BENCH_CONNS, BENCH_THREADS, BENCH_BACKEND_WORKERS must be >= 1"
[[ $PIN == 1 && $MODE == workers2 ]] &&
    die "BENCH_MODE=workers2 runs unpinned (BENCH_PIN=0): a 2-worker proxy pinned to one CPU cannot scale"
[[ $TLS_TICKETS == [01] ]] || die "BENCH_TLS_TICKETS must be 0 or 1, got '$TLS_TICKETS'"
((CONNS >= WRK_THREADS)) || die "BENCH_CONNS ($CONNS) must be >= BENCH_THREADS ($WRK_THREADS)"
for p in $PROXIES; do
    case $p in
        crossgate|crossgate-edge|crossgate-log|crossgate-resilient|crossgate-w2) ;;
        haproxy|haproxy-w2|nginx|nginx-w2) ;;
        *) die "unknown proxy '$p' in BENCH_PROXIES" ;;
    esac
done
[[ $MODE == h2 ]] && NEED=("$H2LOAD_BIN" "$PY" curl) || NEED=("$WRK_BIN" "$PY" curl)
((TLS)) && NEED+=(openssl timeout)
[[ $MODE == handshake ]] && NEED+=("${CC:-cc}")
[[ -n $CONFIGS_ONLY ]] && NEED=()
for b in "${NEED[@]}"; do
    command -v "$b" >/dev/null || die "required tool not found: $b"
done
# Connections each proxy is sized for (haproxy maxconn, nginx worker_connections); each client
# connection can hold an upstream one.
CONN_CAP=$CONNS
[[ -n $MAX_CONNS ]] && ((MAX_CONNS > CONN_CAP)) && CONN_CAP=$MAX_CONNS
# HAProxy's maxconn counts client connections (it sizes its descriptors at 2 per connection)
HAPROXY_MAXCONN=$((CONNS * 2 > CONN_CAP ? CONNS * 2 + 1000 : CONN_CAP + 16))
NGINX_WORKER_CONNS=$((CONN_CAP * 2 + 1000 > 8192 ? CONN_CAP * 2 + 1000 : 8192))

[[ -r /proc/self/stat ]] || die "/proc is required (CPU accounting reads /proc/PID/stat)"
CLK_TCK=$(getconf CLK_TCK) || die "getconf CLK_TCK failed"

# ---- pinning -------------------------------------------------------------------------
NCPU=$(nproc 2>/dev/null || echo 1)
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && ((NCPU >= 2)) &&
   ((PROXY_CPU < NCPU && LOAD_CPU < NCPU && PROXY_CPU != LOAD_CPU)); then
    PIN_PROXY=(taskset -c "$PROXY_CPU")
    PIN_LOAD=(taskset -c "$LOAD_CPU")
    PIN_DESC="proxies on CPU $PROXY_CPU; wrk + backend on CPU $LOAD_CPU (taskset)"
    STAT_PROXY=cpu$PROXY_CPU; STAT_LOAD=cpu$LOAD_CPU
else
    PIN_PROXY=(); PIN_LOAD=()
    STAT_PROXY=cpu; STAT_LOAD=cpu     # unpinned: "load CPU" / "steal" are machine-wide
    PIN_DESC="off (BENCH_PIN=$PIN, $NCPU CPU(s)); everything floats"
fi

# ---- ports ---------------------------------------------------------------------------
ALL_PORTS=("$PORT_BACKEND")
for p in $PROXIES; do
    case $p in
        crossgate) ALL_PORTS+=("$PORT_CROSSGATE" "$PORT_CG_ADMIN") ;;
        crossgate-edge) ALL_PORTS+=("$PORT_CG_EDGE" "$PORT_CG_EDGE_ADMIN") ;;
        crossgate-log) ALL_PORTS+=("$PORT_CG_LOG" "$PORT_CG_LOG_ADMIN") ;;
        crossgate-resilient) ALL_PORTS+=("$PORT_CG_RES" "$PORT_CG_RES_ADMIN") ;;
        crossgate-w2) ALL_PORTS+=("$PORT_CG_W2" "$PORT_CG_W2_ADMIN") ;;
        haproxy)   ALL_PORTS+=("$PORT_HAPROXY") ;;
        haproxy-w2) ALL_PORTS+=("$PORT_HAPROXY_W2") ;;
        nginx)     ALL_PORTS+=("$PORT_NGINX") ;;
        nginx-w2)  ALL_PORTS+=("$PORT_NGINX_W2") ;;
    esac
done
if [[ -z $CONFIGS_ONLY ]]; then
    busy=$("$PY" "$REPORT" portfree "${ALL_PORTS[@]}") ||
        die "port 127.0.0.1:$busy is already in use (set BENCH_PORT_BASE to move all ports)"
fi

# ---- temp dir, process tracking, cleanup ---------------------------------------------
if [[ -n $CONFIGS_ONLY ]]; then
    TMP=$CONFIGS_ONLY
else
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/crossgate-bench.XXXXXX") || die "mktemp failed"
fi
STARTED=()          # pids of every server we started (nginx: the master)
WRK_PID=            # the wrk running now, if any

descendants() {     # print pid and all its descendants
    local pid=$1 c
    echo "$pid"
    for c in $(pgrep -P "$pid" 2>/dev/null); do descendants "$c"; done
}

cleanup() {
    local rc=$? pid all=() deadline
    trap - EXIT INT TERM HUP
    [[ -n ${WRK_PID:-} ]] && kill -TERM "$WRK_PID" 2>/dev/null
    for pid in "${STARTED[@]}"; do
        all+=($(descendants "$pid"))
    done
    ((${#all[@]})) && kill -TERM "${all[@]}" 2>/dev/null
    deadline=$((SECONDS + 5))
    for pid in "${all[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [[ -n $CONFIGS_ONLY ]]; then
        :                               # the caller's directory
    elif [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
        echo "bench: kept temp dir $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

# ---- helpers -------------------------------------------------------------------------
now_ns() { date +%s%N; }

cpu_ticks() {       # sum of utime+stime (clock ticks) over the given pids
    local pid s f total=0
    for pid in "$@"; do
        { s=$(<"/proc/$pid/stat"); } 2>/dev/null || continue
        s=${s##*) }                     # drop "pid (comm) "; comm may contain spaces
        read -ra f <<<"$s"              # f[0] is field 3 (state): utime=f[11], stime=f[12]
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

cpu_snap() {        # cpu_snap cpuN|cpu: "total idle steal" jiffies from /proc/stat
    local name v
    local -a f
    while read -r name v; do
        if [[ $name == "$1" ]]; then
            read -ra f <<<"$v"          # user nice system idle iowait irq softirq steal ...
            echo "$((f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7])) $((f[3] + f[4])) $((f[7]))"
            return
        fi
    done </proc/stat
    echo "0 0 0"
}

pct() {             # pct "T0 I0 S0" "T1 I1 S1" busy|steal
    awk -v a="$1" -v b="$2" -v what="$3" 'BEGIN {
        split(a, x, " "); split(b, y, " "); t = y[1] - x[1]
        if (t <= 0) { print "nan"; exit }
        if (what == "busy") printf "%.1f", 100 * (t - (y[2] - x[2])) / t
        else                printf "%.1f", 100 * (y[3] - x[3]) / t }'
}

# wait_ready NAME SCHEME PORT PID: poll until GET / answers 200 with the backend body, the
# process dies, or READY_TIMEOUT passes. Returns 0 when ready; prints reason otherwise.
# https: the certificate is the run's own self-signed one, hence -k.
wait_ready() {
    local name=$1 url=$2://127.0.0.1:$3/ pid=$4 deadline body
    deadline=$(($(now_ns) + READY_TIMEOUT * 1000000000))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "process exited during startup"; return 1
        fi
        body=$(curl -s -k --max-time 1 -f "$url" 2>/dev/null) &&
            [[ $body == "$BODY" ]] && return 0
        if (($(now_ns) > deadline)); then
            echo "not answering 200 '$BODY' on $url after ${READY_TIMEOUT}s"; return 1
        fi
        sleep 0.05
    done
}

log_tail() {        # last lines of a server's log, indented
    [[ -s $1 ]] && tail -n 5 "$1" | sed 's/^/    | /'
}

declare -A PID PORT SKIP LOG TLSINFO
PORT[crossgate]=$PORT_CROSSGATE; PORT[haproxy]=$PORT_HAPROXY; PORT[nginx]=$PORT_NGINX
LOG[crossgate]=$TMP/crossgate.log; LOG[haproxy]=$TMP/haproxy.log; LOG[nginx]=$TMP/nginx/error.log
PORT[crossgate-edge]=$PORT_CG_EDGE; LOG[crossgate-edge]=$TMP/crossgate-edge.log
PORT[crossgate-log]=$PORT_CG_LOG; PORT[crossgate-resilient]=$PORT_CG_RES
PORT[crossgate-w2]=$PORT_CG_W2; PORT[haproxy-w2]=$PORT_HAPROXY_W2; PORT[nginx-w2]=$PORT_NGINX_W2
for p in crossgate-log crossgate-resilient crossgate-w2 haproxy-w2; do LOG[$p]=$TMP/$p.log; done
LOG[nginx-w2]=$TMP/nginx-w2/error.log
declare -A ADMIN=([crossgate]=$PORT_CG_ADMIN [crossgate-edge]=$PORT_CG_EDGE_ADMIN
                  [crossgate-log]=$PORT_CG_LOG_ADMIN [crossgate-resilient]=$PORT_CG_RES_ADMIN
                  [crossgate-w2]=$PORT_CG_W2_ADMIN)
# Workers (crossgate --workers, HAProxy nbthread, nginx worker_processes) of each proxy: 1 but
# for the -w2 variants.
declare -A WORKERS=([crossgate-w2]=2 [haproxy-w2]=2 [nginx-w2]=2)
workers() { echo "${WORKERS[$1]:-1}"; }

skip() {            # skip PROXY REASON
    SKIP[$1]=$2
    echo "SKIP $1: $2"
}

# ---- TLS (BENCH_MODE=tls|handshake) ---------------------------------------------------
# One ECDSA P-256 certificate for every proxy, made for this run in the temp dir (a private
# key is never committed). TLS settings not named here are each proxy's defaults.
TLS_DIR=$TMP/tls
setup_tls() {
    mkdir -p "$TLS_DIR" && chmod 700 "$TLS_DIR" || die "cannot create $TLS_DIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" >"$TLS_DIR/openssl.log" 2>&1 ||
        die "openssl could not make the certificate: $(tail -n1 "$TLS_DIR/openssl.log")"
    cat "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem" >"$TLS_DIR/bundle.pem"   # HAProxy: both in one
    # wrk keeps a connection's TLS session across reconnections (SSL_shutdown + SSL_clear on
    # one SSL object), so it would resume; bench/noresume.c makes it start each one afresh.
    if [[ $MODE == handshake ]]; then
        "${CC:-cc}" -O2 -shared -fPIC -o "$TMP/noresume.so" "$BENCH_DIR/noresume.c" -lssl \
            2>"$TMP/cc.log" || die "cannot build bench/noresume.c: $(head -n3 "$TMP/cc.log")"
    fi
}

# Config fragments: empty in plain mode.
cg_tls() {          # crossgate: the server's tls field
    ((TLS)) &&
        echo "    tls: {mode: SIMPLE, files: {serverCertificate: $TLS_DIR/cert.pem, privateKey: $TLS_DIR/key.pem}}"
}
haproxy_tls_bind() {
    ((TLS)) || return 0
    printf ' ssl crt %s' "$TLS_DIR/bundle.pem"
    [[ $MODE == h2 ]] && printf ' alpn h2,http/1.1'
    ((TLS_TICKETS)) || printf ' no-tls-tickets'
}
haproxy_tls_global() {
    ((TLS && !TLS_TICKETS)) && echo "    tune.ssl.cachesize 0"
}
nginx_tls_listen() { ((!TLS)) || printf ' ssl'; [[ $MODE != h2 ]] || printf ' http2'; }
nginx_tls_server() {
    ((TLS)) || return 0
    echo "        ssl_certificate     $TLS_DIR/cert.pem;"
    echo "        ssl_certificate_key $TLS_DIR/key.pem;"
    # nginx 1.22's default leaves TLS 1.3 out; crossgate's and HAProxy's are TLS 1.2-1.3
    echo "        ssl_protocols TLSv1.2 TLSv1.3;"
    ((TLS_TICKETS)) || echo "        ssl_session_tickets off; ssl_session_cache off;"
}

# tls_info PORT: what a default OpenSSL client (as wrk is) negotiates, and how many session
# tickets the server sends after one handshake and one request.
tls_info() {
    printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 5 openssl s_client -connect "127.0.0.1:$1" -servername localhost -ign_eof 2>&1 |
        awk '/^New, /          { v = $2; sub(/,$/, "", v); c = $NF }
             /^Server Temp Key:/ { sub(/^Server Temp Key: /, ""); k = $0 }
             /^Peer signature type:/ { sig = $NF }
             /^Post-Handshake New Session Ticket/ { t++ }
             END { printf "%s %s, key exchange %s, signature %s, %d session ticket(s) sent\n",
                          v ? v : "?", c ? c : "?", k ? k : "?", sig ? sig : "?", t }'
}

# h2_check PORT: empty when the server negotiates h2 by ALPN and answers a request over it;
# otherwise why not ("no h2 (ALPN gave http/1.1)", h2load's error).
h2_check() {
    local out proto
    out=$(timeout 10 "$H2LOAD_BIN" -n 1 -c 1 "https://127.0.0.1:$1/" 2>&1)
    proto=$(awk -F': ' '/^Application protocol:/ { print $2 }' <<<"$out")
    if [[ $proto != h2 ]]; then
        if [[ -n $proto ]]; then echo "no h2 (ALPN gave ${proto})"
        else echo "no h2 (no TLS handshake completed: $(grep -m1 -iE 'error' <<<"$out" || echo 'h2load made no connection'))"; fi
        return
    fi
    grep -q ' 1 succeeded' <<<"$out" || echo "no h2 (the request over h2 failed: $(grep -m1 '^requests:' <<<"$out"))"
}

# cg_tls_counts ADMIN_PORT: "handshakes resumed" so far, from crossgate's /metrics
cg_tls_counts() {
    curl -s --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null |
        awk '$1 == "crossgate_downstream_tls_handshake_total" { h = $2 }
             $1 == "crossgate_downstream_tls_resumed_total"   { r = $2 }
             END { printf "%d %d\n", h, r }'
}

# ---- configs -------------------------------------------------------------------------
nginx_common() {    # prefix-local paths so nothing touches /var or /run
    local d=$1
    mkdir -p "$d/tmp"
    cat <<EOF
pid $d/nginx.pid;
error_log $d/error.log warn;
$( ((EUID == 0)) && echo "user root root;")
$( ((NGINX_WORKER_CONNS > 8192)) && echo "worker_rlimit_nofile $((NGINX_WORKER_CONNS * 2 + 100));")
events { worker_connections $NGINX_WORKER_CONNS; multi_accept on; }
EOF
}

nginx_http_common() {
    local d=$1
    cat <<EOF
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path       $d/tmp/proxy;
    fastcgi_temp_path     $d/tmp/fastcgi;
    uwsgi_temp_path       $d/tmp/uwsgi;
    scgi_temp_path        $d/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout  ${KA_TIMEOUT:-300}s;
EOF
}

write_backend_conf() {
    local d=$TMP/backend; mkdir -p "$d"
    {
        echo "worker_processes $BACKEND_WORKERS;"
        nginx_common "$d"
        echo "http {"
        nginx_http_common "$d"
        cat <<EOF
    server {
        listen 127.0.0.1:$PORT_BACKEND reuseport backlog=4096;
        listen 127.0.0.2:$PORT_BACKEND reuseport backlog=4096;
        location / { return 200 "$BODY\n"; }
    }
}
EOF
    } >"$d/nginx.conf"
}

write_nginx_conf() {      # write_nginx_conf NAME: $TMP/NAME/nginx.conf
    local name=$1 d=$TMP/$1; mkdir -p "$d"
    {
        echo "worker_processes $(workers "$name");"
        nginx_common "$d"
        echo "http {"
        nginx_http_common "$d"
        cat <<EOF
    upstream backend {
        server 127.0.0.1:$PORT_BACKEND;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:${PORT[$name]} backlog=4096$(nginx_tls_listen);
$(nginx_tls_server)
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$d/nginx.conf"
}

write_haproxy_conf() {    # write_haproxy_conf NAME: $TMP/NAME.cfg
    local name=$1
    cat >"$TMP/$name.cfg" <<EOF
global
    nbthread $(workers "$name")
    maxconn $HAPROXY_MAXCONN
$(haproxy_tls_global)
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client ${KA_TIMEOUT:-60}s
    timeout server 60s
    timeout http-keep-alive ${KA_TIMEOUT:-60}s
frontend fe
    bind 127.0.0.1:${PORT[$name]}$(haproxy_tls_bind)
    default_backend be
backend be
    server s1 127.0.0.1:$PORT_BACKEND
EOF
}

# The resilience features of BENCH_MODE=features, as a service route takes them (retries are on
# by default; outlier detection and active health checks only when given): docs/resources.md.
cg_resilience() {
    echo "    retries: {attempts: 2, retryOn: [connect-failure, reset, gateway-error]}"
    echo "    outlierDetection: {consecutiveGatewayErrors: 3, interval: 1s, baseEjectionTime: 5s}"
    echo "    healthCheck: {enabled: true, interval: 1s, timeout: 1s}"
}

write_crossgate_conf() {  # write_crossgate_conf NAME: $TMP/NAME.yaml, one service route
    local name=$1
    cat >"$TMP/$name.yaml" <<EOF
apiVersion: crossgate/v1
kind: Service
metadata: {name: backend, namespace: bench, cluster: bench}
spec:
  hostname: backend.bench.svc
  endpoints: [{address: 127.0.0.1, port: $PORT_BACKEND}]
---
apiVersion: crossgate/v1
kind: Gateway
metadata: {name: bench, namespace: bench}
spec:
  workloadSelector: {namespace: bench, labels: {app: bench}}
  http:
  - name: bench
    port: ${PORT[$name]}
    hostname: "*"
$(cg_tls)
$([[ $name == crossgate-resilient ]] && cg_resilience)
    routing:
      rules:
      - route:
          serviceDestination: {host: bench/backend.bench.svc, port: $PORT_BACKEND}
EOF
}

# The edge role: cluster-a (the edge's region) and cluster-b (remote) each have an "ingress"
# (the backend, on 127.0.0.1 and 127.0.0.2); an auto destination with the defaults on:
# retries, outlier detection, active health checks of /.crossgate/healthz, locality priorities.
write_crossgate_edge_conf() {
    cat >"$TMP/crossgate-edge.yaml" <<EOF
apiVersion: crossgate/v1
kind: Cluster
metadata: {name: edge}
spec: {locality: {region: region-1}}
---
apiVersion: crossgate/v1
kind: Cluster
metadata: {name: cluster-a}
spec:
  locality: {region: region-1}
  gateways: [{address: 127.0.0.1, namespace: bench, labels: {app: ingress}}]
---
apiVersion: crossgate/v1
kind: Cluster
metadata: {name: cluster-b}
spec:
  locality: {region: region-2}
  gateways: [{address: 127.0.0.2, namespace: bench, labels: {app: ingress}}]
---
apiVersion: crossgate/v1
kind: Gateway
metadata: {name: ingress, namespace: bench}
spec:
  workloadSelector: {namespace: bench, labels: {app: ingress}}
  http:
  - name: bench
    port: $PORT_BACKEND
    hostname: "*"
    routing:
      rules:
      - route:
          serviceDestination: {host: bench/backend.bench.svc, port: $PORT_BACKEND}
---
apiVersion: crossgate/v1
kind: Gateway
metadata: {name: edge, namespace: edge}
spec:
  workloadSelector: {namespace: edge, labels: {app: edgegw}}
  http:
  - name: bench
    port: $PORT_CG_EDGE
    hostname: "*"
$(cg_tls)
    routing:
      rules:
      - route:
          clusterDestination: {}
EOF
}

# ---- start servers -------------------------------------------------------------------
start_bg() {        # start_bg LOGFILE CMD...: run in background from $TMP, record pid
    local log=$1; shift
    (cd "$TMP" && exec "$@") </dev/null >"$log" 2>&1 &
    LAST_PID=$!
    STARTED+=("$LAST_PID")
}

# backend_cmd / proxy_cmd NAME: write the config, set CMD (the command line, pinning included)
# and OUTLOG (where its stdout and stderr go); proxy_cmd returns 1 after `skip` when the binary
# is missing.
backend_cmd() {
    write_backend_conf
    CMD=("${PIN_LOAD[@]}" "$NGINX_BIN" -p "$TMP/backend" -e "$TMP/backend/error.log"
         -c "$TMP/backend/nginx.conf" -g 'daemon off;')
    OUTLOG=$TMP/backend/stdout.log
}

proxy_cmd() {
    local name=$1 cg_args=(--workers "$(workers "$1")" --access-log off)
    # crossgate-log: its access log to a file of the temp dir (the file's cost is the feature's)
    [[ $name == crossgate-log ]] && cg_args=(--workers 1 --access-log "$TMP/crossgate-log.access.log")
    [[ -n $MAX_CONNS ]] && cg_args+=(--max-connections "$MAX_CONNS")
    [[ -n $KA_TIMEOUT ]] && cg_args+=(--idle-timeout "${KA_TIMEOUT}s")
    OUTLOG=${LOG[$name]}
    case $name in
        crossgate|crossgate-log|crossgate-resilient|crossgate-w2)
            if [[ ! -x $CROSSGATE_BIN ]]; then
                skip "$name" "binary not found at $CROSSGATE_BIN (run 'make build')"; return 1
            fi
            write_crossgate_conf "$name"
            CMD=("${PIN_PROXY[@]}" "$CROSSGATE_BIN" gateway -f "$TMP/$name.yaml"
                 --cluster bench --namespace bench --label app=bench --address 127.0.0.1
                 "${cg_args[@]}" --admin "127.0.0.1:${ADMIN[$name]}")
            ;;
        crossgate-edge)
            if [[ ! -x $CROSSGATE_BIN ]]; then
                skip crossgate-edge "binary not found at $CROSSGATE_BIN (run 'make build')"; return 1
            fi
            write_crossgate_edge_conf
            CMD=("${PIN_PROXY[@]}" "$CROSSGATE_BIN" gateway -f "$TMP/crossgate-edge.yaml"
                 --cluster edge --namespace edge --label app=edgegw --address 127.0.0.1
                 "${cg_args[@]}" --admin "127.0.0.1:$PORT_CG_EDGE_ADMIN")
            ;;
        haproxy|haproxy-w2)
            [[ -x $HAPROXY_BIN ]] || { skip "$name" "binary not found at $HAPROXY_BIN"; return 1; }
            write_haproxy_conf "$name"
            CMD=("${PIN_PROXY[@]}" "$HAPROXY_BIN" -db -f "$TMP/$name.cfg")
            ;;
        nginx|nginx-w2)
            [[ -x $NGINX_BIN ]] || { skip "$name" "binary not found at $NGINX_BIN"; return 1; }
            write_nginx_conf "$name"
            CMD=("${PIN_PROXY[@]}" "$NGINX_BIN" -p "$TMP/$name" -e "$TMP/$name/error.log"
                 -c "$TMP/$name/nginx.conf" -g 'daemon off;')
            OUTLOG=$TMP/$name/stdout.log
            ;;
    esac
}

start_backend() {
    backend_cmd
    start_bg "$OUTLOG" "${CMD[@]}"
    local why
    BACKEND_PID=$LAST_PID
    if ! why=$(wait_ready backend http "$PORT_BACKEND" "$LAST_PID"); then
        echo "bench: backend nginx failed to start: $why" >&2
        log_tail "$TMP/backend/error.log" >&2; log_tail "$TMP/backend/stdout.log" >&2
        exit 1
    fi
}

start_proxy() {     # start_proxy NAME -> sets PID[NAME] or SKIP[NAME]
    local name=$1 log=${LOG[$1]} why
    proxy_cmd "$name" || return
    start_bg "$OUTLOG" "${CMD[@]}"
    if why=$(wait_ready "$name" "$SCHEME" "${PORT[$name]}" "$LAST_PID"); then
        PID[$name]=$LAST_PID
    else
        if ! kill -0 "$LAST_PID" 2>/dev/null; then
            wait "$LAST_PID"; why="$why (exit status $?)"
        fi
        skip "$name" "$why"
        log_tail "$log"
        kill -TERM $(descendants "$LAST_PID") 2>/dev/null
    fi
}

# ---- configs only (bench/run.sh configs DIR) -----------------------------------------
if [[ -n $CONFIGS_ONLY ]]; then
    ((!TLS)) || setup_tls
    emit() { local IFS=$'\t'; echo "$1"$'\t'"$2"$'\t'"$OUTLOG"$'\t'"${CMD[*]}"; }
    backend_cmd; emit backend "$PORT_BACKEND"
    for p in $PROXIES; do
        proxy_cmd "$p" >&2 && emit "$p" "${PORT[$p]}"
    done
    exit 0
fi

# ---- run -----------------------------------------------------------------------------
mkdir -p "$OUT_DIR" || die "cannot create $OUT_DIR"
rm -f "$OUT_DIR"/wrk-*.txt "$OUT_DIR"/results.json
RAW=$TMP/rounds.jsonl; : >"$RAW"

# What wrk does per mode: handshake mode closes after each response (so every request is a
# new TCP connection and a full TLS handshake) and starts each TLS session afresh.
WRK_ARGS=(); WRK_ENV=()
case $MODE in
    plain) MODE_DESC="plain HTTP/1.1, keep-alive" ;;
    tls) MODE_DESC="HTTPS, keep-alive (handshakes only at connect)" ;;
    features) MODE_DESC="plain HTTP/1.1, keep-alive; crossgate alone: plain route, access log to a file (crossgate-log), retries + outlier detection + health checks (crossgate-resilient)" ;;
    workers2) MODE_DESC="plain HTTP/1.1, keep-alive; each proxy with 1 and with 2 workers (crossgate --workers, HAProxy nbthread, nginx worker_processes)" ;;
    h2) MODE_DESC="HTTP/2 over TLS (ALPN h2), h2load -c$CONNS -m$H2_STREAMS, to the same HTTP/1.1 backend" ;;
    handshake)
        WRK_ARGS=(-H "Connection: close"); WRK_ENV=(env "LD_PRELOAD=$TMP/noresume.so")
        MODE_DESC="HTTPS, a new connection and a full handshake per request (Connection: close, no resumption)" ;;
esac
if ((TLS)); then
    MODE_DESC+="; ECDSA P-256 certificate"
    ((TLS_TICKETS)) || MODE_DESC+="; HAProxy and nginx: no tickets, no session cache"
fi

if [[ $MODE == h2 ]]; then
    LOAD_DESC="h2load -t$WRK_THREADS -c$CONNS -m$H2_STREAMS"
else
    LOAD_DESC="wrk -t$WRK_THREADS -c$CONNS"
fi
export BENCH_LOAD_DESC=$LOAD_DESC
echo "crossgate bench: $ROUNDS round(s) x ${DURATION}s per proxy, $LOAD_DESC, warmup ${WARMUP}s"
echo "mode: $MODE: $MODE_DESC"
echo "pinning: $PIN_DESC"
echo "backend: nginx, $BACKEND_WORKERS worker(s), 127.0.0.1:$PORT_BACKEND, body '$BODY\\n'; keep-alive on both sides, access logs off"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

((!TLS)) || setup_tls
start_backend
ACTIVE=()
for p in $PROXIES; do
    start_proxy "$p"
    [[ -n ${PID[$p]:-} ]] && ACTIVE+=("$p")
done
if [[ $MODE == h2 ]]; then
    # a proxy without h2 (crossgate before its HTTP/2 listener landed) is a row that says so,
    # not the end of the run
    H2_OK=()
    for p in "${ACTIVE[@]}"; do
        why=$(h2_check "${PORT[$p]}")
        if [[ -z $why ]]; then H2_OK+=("$p"); continue; fi
        skip "$p" "$why"
        kill -TERM $(descendants "${PID[$p]}") 2>/dev/null
    done
    ACTIVE=("${H2_OK[@]}")
fi
((${#ACTIVE[@]})) || die "no proxy started; nothing to measure"
for p in "${ACTIVE[@]}"; do
    printf '  %-9s 127.0.0.1:%s  pid %s\n' "$p" "${PORT[$p]}" "${PID[$p]}"
    if ((TLS)); then
        TLSINFO[$p]=$(tls_info "${PORT[$p]}")
        printf '  %-9s %s\n' "" "${TLSINFO[$p]}"
    fi
done

run_wrk() {         # run_wrk PORT SECONDS OUTFILE (h2: h2load, bounded by duration)
    # In the background + `wait`, so a TERM/INT trap fires at once instead of after wrk.
    if [[ $MODE == h2 ]]; then
        "${PIN_LOAD[@]}" "$H2LOAD_BIN" -t"$WRK_THREADS" -c"$CONNS" -m"$H2_STREAMS" -D"$2" \
            "$SCHEME://127.0.0.1:$1/" >"$3" 2>&1 &
    else
        "${PIN_LOAD[@]}" "${WRK_ENV[@]}" "$WRK_BIN" -t"$WRK_THREADS" -c"$CONNS" -d"$2"s --latency \
            "${WRK_ARGS[@]}" "$SCHEME://127.0.0.1:$1/" >"$3" 2>&1 &
    fi
    WRK_PID=$!
    wait "$WRK_PID"
    WRK_PID=
}

alive() {           # alive PROXY: still running? otherwise mark skipped
    kill -0 "${PID[$1]}" 2>/dev/null && return 0
    skip "$1" "process exited during the run (figures so far kept)"
    log_tail "${LOG[$1]}"
    return 1
}

backend_alive() {
    kill -0 "$BACKEND_PID" 2>/dev/null && return 0
    echo "bench: the backend nginx exited during the run; aborting" >&2
    log_tail "$TMP/backend/error.log" >&2
    exit 1
}

if ((WARMUP > 0)); then
    for p in "${ACTIVE[@]}"; do
        run_wrk "${PORT[$p]}" "$WARMUP" "$TMP/warmup-$p.txt"
    done
fi

n=${#ACTIVE[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    echo "-- round $r/$ROUNDS"
    for ((i = 0; i < n; i++)); do
        p=${ACTIVE[$(((i + r - 1) % n))]}      # rotate the order each round
        [[ -n ${SKIP[$p]:-} ]] && continue
        backend_alive
        alive "$p" || continue
        pids=($(descendants "${PID[$p]}"))
        out=$TMP/wrk-$p-$r.txt
        # crossgate counts its handshakes and resumptions: read outside the CPU window
        tls=; ((TLS)) && [[ -n ${ADMIN[$p]:-} ]] && tls=1
        [[ -n $tls ]] && read -r h0 res0 < <(cg_tls_counts "${ADMIN[$p]}")
        sp0=$(cpu_snap "$STAT_PROXY"); sl0=$(cpu_snap "$STAT_LOAD")
        t0=$(cpu_ticks "${pids[@]}"); w0=$(now_ns)
        run_wrk "${PORT[$p]}" "$DURATION" "$out"
        w1=$(now_ns); t1=$(cpu_ticks "${pids[@]}")
        sp1=$(cpu_snap "$STAT_PROXY"); sl1=$(cpu_snap "$STAT_LOAD")
        extra=()
        if [[ -n $tls ]]; then
            read -r h1 res1 < <(cg_tls_counts "${ADMIN[$p]}")
            extra=("tls_handshakes=$((h1 - h0))" "tls_resumed=$((res1 - res0))")
        fi
        backend_alive
        alive "$p" || continue          # died during the round: its CPU figure is void
        # unpinned, /proc/stat's figure is the machine's (wrk and the backend included), not
        # the proxy's CPU: no "others on it" then
        busy_arg=(); [[ -n ${PIN_PROXY[*]} ]] && busy_arg=("proxy_cpu_busy_percent=$(pct "$sp0" "$sp1" busy)")
        wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        if ! "$PY" "$REPORT" round "$RAW" "$p" "$r" "$out" "$((t1 - t0))" "$CLK_TCK" "$wall" \
                "load_cpu_busy_percent=$(pct "$sl0" "$sl1" busy)" \
                "${busy_arg[@]}" \
                "proxy_cpu_steal_percent=$(pct "$sp0" "$sp1" steal)" "${extra[@]}"; then
            echo "   $p: the load completed no requests; it said:"; sed 's/^/    | /' "$out" | tail -n 5
        fi
        cp "$out" "$OUT_DIR/" 2>/dev/null
    done
done

# ---- summary -------------------------------------------------------------------------
skipped_args=()
for p in $PROXIES; do [[ -n ${SKIP[$p]:-} ]] && skipped_args+=("$p" "${SKIP[$p]}"); done
cg_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
versions=$( { "$HAPROXY_BIN" -v 2>/dev/null | head -n1; "$NGINX_BIN" -v 2>&1 | head -n1; } | tr '\n' ';')
tlsinfo=$(for p in "${!TLSINFO[@]}"; do printf '%s=%s|' "$p" "${TLSINFO[$p]}"; done)
"$PY" - "$TMP/meta.json" "$ROUNDS" "$DURATION" "$CONNS" "$WRK_THREADS" "$WARMUP" \
    "$BACKEND_WORKERS" "$PIN_DESC" "$CLK_TCK" "$NCPU" "$versions" "$PROXIES" "$cg_rev" \
    "$MODE" "$TLS_TICKETS" "$tlsinfo" "${skipped_args[@]}" <<'EOF'
import json, sys, time, os
a = sys.argv[1:]
skipped = dict(zip(a[16::2], a[17::2]))
meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": os.uname().nodename,
        "rounds": int(a[1]), "duration_s": int(a[2]), "conns": int(a[3]),
        "wrk_threads": int(a[4]), "warmup_s": int(a[5]), "backend_workers": int(a[6]),
        "pinning": a[7], "clk_tck": int(a[8]), "ncpu": int(a[9]),
        "peer_versions": [v for v in a[10].split(";") if v],
        "proxies": a[11].split(), "crossgate_git_rev": a[12], "skipped": skipped,
        "loadavg_end": open("/proc/loadavg").read().split()[:3],
        "mode": a[13], "tls_tickets": a[14] == "1", "load": os.environ.get("BENCH_LOAD_DESC"),
        "tls": dict(kv.split("=", 1) for kv in a[15].split("|") if kv)}
json.dump(meta, open(a[0], "w"), indent=2)
EOF
"$PY" "$REPORT" summary "$RAW" "$TMP/meta.json" "$OUT_DIR/results.json" || die "summary failed"
echo
echo "raw figures: ${OUT_DIR#$ROOT/}/results.json (wrk outputs alongside)"
