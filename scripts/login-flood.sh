#!/usr/bin/env bash
# Starts `ringmarket serve` on 127.0.0.1 with a fresh data directory, runs the login_flood
# example against it (wrong-password flood, server RSS, a real user's login latency), then
# stops the server.
#
#   scripts/login-flood.sh [SECONDS] [THREADS] [SERVER_BINARY]
#
# SERVER_BINARY defaults to the release build of this tree; give another build (an older
# commit's, say) to compare. SERVER_ARGS adds options to `serve` (for instance
# SERVER_ARGS="--login-failures-per-address 0" to let every wrong password be hashed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
threads=${2:-50}
server=${3:-target/release/ringmarket}
if [[ $# -lt 3 ]]; then
    cargo build --release -p ringmarket-cli --bin ringmarket
fi
cargo build --release -p ringmarket-cli --example login_flood
data=$(mktemp -d)
out=$(mktemp)
# shellcheck disable=SC2086 # SERVER_ARGS holds several words.
"$server" serve --addr 127.0.0.1:0 --data "$data" ${SERVER_ARGS:-} >"$out" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$data" "$out"' EXIT
for _ in $(seq 100); do
    grep -q listening "$out" && break
    sleep 0.1
done
addr=$(awk '/listening/ {print $NF}' "$out")
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "server: $server"
target/release/examples/login_flood "$addr" "$pid" "$seconds" "$threads"
