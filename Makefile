# Thin wrapper over CMake. `make demo` and `make test` are the two commands.
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3

.PHONY: all deps build build-asan unit e2e test demo bench fuzz format clean

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

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
