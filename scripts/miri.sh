#!/usr/bin/env bash
# Runs the library's unit and integration tests under Miri with strict provenance.
# Installs the nightly toolchain's miri and rust-src components when they are missing.
#
#   scripts/miri.sh                  # all library tests
#   scripts/miri.sh spsc             # only tests whose name contains "spsc"
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain="${MIRI_TOOLCHAIN:-nightly}"
if ! rustup run "$toolchain" cargo miri --version >/dev/null 2>&1; then
  rustup toolchain install "$toolchain" --profile minimal --component miri,rust-src
fi
rustup component add miri rust-src --toolchain "$toolchain" >/dev/null
cargo +"$toolchain" miri setup

export MIRIFLAGS="${MIRIFLAGS:--Zmiri-strict-provenance}"
export CARGO_TARGET_DIR="${MIRI_TARGET_DIR:-target/miri}"
cargo +"$toolchain" miri test -p ringmarket --features async --lib --tests "$@"
