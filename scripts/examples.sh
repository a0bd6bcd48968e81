#!/usr/bin/env bash
# Runs every library example (each checks its own results and exits non-zero if one is
# wrong); the async one with `--features async`.
#
#   scripts/examples.sh            # debug builds
#   scripts/examples.sh --release  # extra cargo arguments go to every run
set -euo pipefail
cd "$(dirname "$0")/.."

run() {
  echo "=== cargo run --example $*"
  cargo run --quiet --example "$@"
}

run spsc_handoff "$@"
run mpmc_channel "$@"
run market_threads "$@"
run market_async --features async "$@"
echo "examples: all passed"
