#!/usr/bin/env bash
# Checks that the library builds with its declared minimum supported Rust version.
#
# Only the library is checked: tests, benches and the CLI use newer dev-dependencies. The
# library is copied into a scratch package of its own so that the workspace's other members
# (whose dependencies need newer compilers) are not resolved by the old cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ -n "$msrv" ] || { echo "no rust-version in Cargo.toml" >&2; exit 1; }
rustup toolchain install "$msrv" --profile minimal >/dev/null

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r src README.md "$scratch/"
deps=$(sed -n '/^\[dependencies\]/,/^\[/p' Cargo.toml | sed '1d;/^\[/d')
cat > "$scratch/Cargo.toml" <<TOML
[package]
name = "ringmarket"
version = "0.0.0"
edition = "2021"
rust-version = "$msrv"

[lints.rust]
unexpected_cfgs = { level = "warn", check-cfg = ['cfg(loom)', 'cfg(docsrs)'] }

[features]
$(sed -n '/^\[features\]/,/^\[/p' Cargo.toml | sed '1d;/^\[/d')

[dependencies]
$deps
TOML
echo "checking the library with Rust $msrv"
(cd "$scratch" && cargo +"$msrv" check --all-features --quiet)
echo "MSRV $msrv: ok"
