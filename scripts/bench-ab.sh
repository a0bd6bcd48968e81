#!/usr/bin/env bash
# A/B comparison of an earlier revision of the library with the working tree, both compiled
# into one executable (scripts/bench-ab/main.rs) and run side by side in one process: the
# market's mix and cycle, the MPMC channel and the SPSC transfers, each case once per round by each revision,
# the order alternating. Medians of per-round new/old ratios (< 1: the working tree faster).
#
#   scripts/bench-ab.sh REV [ROUNDS [FILTER]]   # 21 rounds by default; FILTER: only the cases
#                                               # whose name contains it ("spsc", "market 2+2")
#
# Unlike scripts/bench-compare.sh (two executables run one after the other), both revisions
# see the same machine state in every round, which matters on a machine that switches between
# fast and slow modes from one process to the next.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
rev="${1:?usage: scripts/bench-ab.sh REV [ROUNDS [FILTER]]}"
rounds="${2:-21}"
dir="$root/target/bench-ab"
rm -rf "$dir/old" "$dir/src"
mkdir -p "$dir/old" "$dir/src"
git archive "$rev" src README.md | tar -x -C "$dir/old"
cat >"$dir/old/Cargo.toml" <<TOML
[package]
name = "ringmarket-old"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "src/lib.rs"

[features]
async = []

[dependencies]
crossbeam-utils = "0.8"

[target.'cfg(loom)'.dependencies]
loom = "0.7"

[lints.rust]
unexpected_cfgs = "allow"
TOML
cat >"$dir/Cargo.toml" <<TOML
[package]
name = "ringmarket-ab"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
old = { package = "ringmarket-old", path = "old" }
new = { package = "ringmarket", path = "$root" }

[profile.release]
debug = true

# Its own workspace, outside the project's.
[workspace]
TOML
cp scripts/bench-ab/main.rs "$dir/src/main.rs"
# The loops it shares with the benchmarks.
cp benches/common/{mix,market_handles,spsc_timing,spsc_ours}.rs "$dir/src/"
cargo build --release --quiet --manifest-path "$dir/Cargo.toml" --target-dir "$dir/target"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "old: $(git rev-parse --short "$rev"), new: $(git describe --always --dirty)"
"$dir/target/release/ringmarket-ab" "$rounds" "${3:-}"
