#!/usr/bin/env bash
# The readings pipeline at scale, on the lock-free ring and on Mutex<VecDeque> + Condvar, in one
# run: 7 producers x 2,000,000 readings, 3 consumers, buffer of 100 (override with the
# environment variables below). Prints readings per second for each and the ratio. Not part of
# CI: it writes about 0.9 GB to a temporary folder (removed afterwards).
#
#   scripts/readings-bench.sh              # 3 rounds, alternating ring and mutex
#   ROUNDS=1 PER_PRODUCER=200000 scripts/readings-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PRODUCERS="${PRODUCERS:-7}"
PER_PRODUCER="${PER_PRODUCER:-2000000}"
CONSUMERS="${CONSUMERS:-3}"
BUFFER="${BUFFER:-100}"
ROUNDS="${ROUNDS:-3}"

cargo build --release -p ringmarket-cli --quiet
bin=target/release/ringmarket
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "shape: $PRODUCERS producers x $PER_PRODUCER readings, $CONSUMERS consumers, buffer $BUFFER"
declare -A rates
for round in $(seq 1 "$ROUNDS"); do
  for queue in ring mutex; do
    line="$("$bin" readings run --out "$out/$queue" --seed "$round" --queue "$queue" \
      --producers "$PRODUCERS" --per-producer "$PER_PRODUCER" \
      --consumers "$CONSUMERS" --buffer "$BUFFER")"
    rate="$(sed -n 's/.*: \([0-9]*\) readings\/s.*/\1/p' <<<"$line")"
    echo "round $round $queue: $line"
    rates[$queue]+="$rate "
    rm -rf "${out:?}/$queue"
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ring="$(median <<<"${rates[ring]}")"
mutex="$(median <<<"${rates[mutex]}")"
echo "median readings/s: ring $ring, mutex $mutex, ratio $(awk -v a="$ring" -v b="$mutex" 'BEGIN {printf "%.2f", a / b}')x"
