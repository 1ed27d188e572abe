#!/usr/bin/env bash
# `make demo`: the guide in one command (docs/demo.md). Arguments go to `crossgate demo`,
# e.g. scripts/demo.sh --scenario scale-ingress --report /tmp/report
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/crossgate demo "$@"
