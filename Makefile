# Thin wrapper over CMake. `make demo` and `make test` are the two commands.
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3

.PHONY: all deps build build-asan unit e2e test demo bench bench-tls bench-features bench-mtls bench-ws bench-idle bench-h2 fuzz format clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DCG_SANITIZE=ON -DCG_TESTS=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

unit: build-asan
	@cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS)

e2e: build
	@CROSSGATE_BIN=$(abspath $(BUILD))/crossgate $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

test: unit e2e

demo: build
	@scripts/demo.sh

bench: build
	@bench/run.sh

# TLS at the listener: keep-alive over https, then a full handshake per request
bench-tls: build
	@BENCH_MODE=tls bench/run.sh && BENCH_MODE=handshake bench/run.sh

# crossgate's features' cost over the plain route (access log; retries + outlier detection + health
# checks), then 1 vs 2 workers of each proxy, unpinned (bench/README.md)
bench-features: build
	@BENCH_MODE=features bench/run.sh && BENCH_MODE=workers2 bench/run.sh

# HTTP/2 over TLS (ALPN h2): h2load -c 50 -m 10 at each proxy, then memory per idle h2
# connection (bench/README.md); e.g. make bench-h2 BENCH_ROUNDS=2 BENCH_DURATION=5
bench-h2: build
	@BENCH_MODE=h2 bench/run.sh && $(PYTHON) bench/idle.py --h2 --big 0 $(BENCH_IDLE_ARGS)

# the edge -> ingress mTLS hop: added latency at 200 req/s and CPU per request (bench/mtls_hop.py)
bench-mtls: build
	@$(PYTHON) bench/mtls_hop.py

# WebSocket echo round trips at 1,000 msg/s, open loop: direct to the app, then through edge ->
# ingress -> app, plain and mTLS (bench/ws_rtt.py); e.g. make bench-ws BENCH_WS_ARGS="--rounds 5"
BENCH_WS_ARGS ?=
bench-ws: build
	@$(PYTHON) bench/ws_rtt.py $(BENCH_WS_ARGS)

# idle keep-alive connections: bytes per connection (crossgate, HAProxy, nginx), then 100k on one
# crossgate (bench/idle.py); e.g. make bench-idle BENCH_IDLE_ARGS=--raise-hard-limit
BENCH_IDLE_ARGS ?=
bench-idle: build
	@$(PYTHON) bench/idle.py $(BENCH_IDLE_ARGS)

# libFuzzer runs (clang): make fuzz FUZZ_SECONDS=60
FUZZ_SECONDS ?= 30
fuzz: deps
	@command -v clang >/dev/null || { echo "fuzz: clang is needed (apt-get install clang libclang-rt-14-dev)"; exit 1; }
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCG_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@for f in build-fuzz/*_fuzz; do n=$$(basename $$f _fuzz); mkdir -p build-fuzz/corpus-$$n; \
	    echo "== $$n"; $$f -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>&1 | tail -2; done

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
