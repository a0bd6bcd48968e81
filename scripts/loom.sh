#!/usr/bin/env bash
# Runs the loom model checks in loom-tests/ (one test file per component).
#
#   scripts/loom.sh                # every model
#   scripts/loom.sh spsc           # the models in loom-tests/tests/spsc.rs
#
# LOOM_MAX_PREEMPTIONS bounds the preemptions loom explores per execution (2 by default, as
# the models are written for). The models build in release mode in their own target folder so
# that the ordinary build is not invalidated by `--cfg loom`.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"

args=(test -p loom-tests --release)
if [ $# -gt 0 ]; then
  for t in "$@"; do args+=(--test "$t"); done
fi
cargo "${args[@]}" -- --nocapture --test-threads="${LOOM_TEST_THREADS:-2}"
