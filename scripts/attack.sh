#!/usr/bin/env bash
# Starts `ringmarket-inventory serve` on 127.0.0.1 with a fresh data directory (the demo users,
# and item 9001 with a million units for the purchases), runs the attack example against it,
# then stops the server.
#
#   scripts/attack.sh MODE [SECONDS] [N]
#
# MODE: flood (N threads of wrong passwords), sockets (N idle and dripping connections) or
# disk (N rounds of a full disk and space freed; needs prlimit). See inventory/examples/attack.rs.
# SERVER=path runs another build of the server; SERVER_ARGS adds options to `serve` (for
# instance SERVER_ARGS="--login-failures-per-address 0" lets every wrong password be hashed).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/attack.sh flood|sockets|disk [SECONDS] [N]}
seconds=${2:-20}
server=${SERVER:-target/release/ringmarket-inventory}
if [[ -z ${SERVER:-} ]]; then
    cargo build --release -p ringmarket-inventory --bin ringmarket-inventory
fi
cargo build --release -p ringmarket-inventory --example attack
data=$(mktemp -d)
out=$(mktemp)
printf '1001 50 Blue widget\n9001 1000000 Probe bolt\n' >"$data.inventory"
# The server gets EFBIG rather than a SIGXFSZ that would kill it when `disk` limits its file
# size. SERVER_ARGS holds several words.
# shellcheck disable=SC2016,SC2086
sh -c 'trap "" XFSZ; exec "$0" "$@"' "$server" serve --addr 127.0.0.1:0 --data "$data/db" \
    --inventory "$data.inventory" ${SERVER_ARGS:-} >"$out" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$data" "$data.inventory" "$out"' EXIT
for _ in $(seq 100); do
    grep -q listening "$out" && break
    sleep 0.1
done
addr=$(awk '/listening/ {print $NF}' "$out")
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "server: $server $(git describe --always --dirty 2>/dev/null || true)"
target/release/examples/attack "$addr" "$pid" "$mode" "$seconds" ${3:-}
