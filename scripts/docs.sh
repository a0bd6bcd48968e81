#!/usr/bin/env bash
# Builds the library's documentation with every rustdoc warning an error, as docs.rs would
# show it: without features, and with all of them; and the tools' libraries' documentation.
#
#   scripts/docs.sh            # stable, default and all features
#   scripts/docs.sh --nightly  # also the docs.rs build itself (nightly, --cfg docsrs, doc(cfg) badges)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "cargo doc --no-deps -p ringmarket"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p ringmarket

step "cargo doc --no-deps -p ringmarket --all-features"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p ringmarket --all-features

step "cargo doc --no-deps -p ringmarket-cli -p ringmarket-inventory (the tools' libraries)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p ringmarket-cli -p ringmarket-inventory

if [ "${1:-}" = "--nightly" ]; then
  if ! rustup run nightly rustdoc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
  fi
  step "cargo +nightly doc --no-deps -p ringmarket --all-features (--cfg docsrs)"
  RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc --no-deps -p ringmarket --all-features
fi
echo "docs: no warnings"
