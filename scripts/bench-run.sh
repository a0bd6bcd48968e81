#!/usr/bin/env bash
# Benchmark of `ringmarket run` (not a test):
#  1. every scenario at --time-scale 1, --wait park and --wait sleep side by side (the
#     assignment's ten, then the project's own in cli/tests/scenarios/): wall time of each run
#     (every run is also checked against its reference); with BENCH_REPEAT > 1 the two modes
#     alternate, run by run, and each cell is the median;
#  2. test 10 scaled up with `ringmarket gen`, run at --time-scale 0: market operations per
#     second, in both wait modes.
# Usage: scripts/bench-run.sh [SCALE_FACTOR]   (SCALE_FACTOR multiplies test 10's consumers; 10)
#        BENCH_MODES="sleep" scripts/bench-run.sh   (only some wait modes; default "park sleep")
#        BENCH_REPEAT=3 scripts/bench-run.sh        (median of 3 runs per cell; default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${RINGMARKET_CONFORMANCE_DIR:-../shared/conformance/asc-marketplace}"
FACTOR="${1:-10}"
MODES="${BENCH_MODES:-park sleep}"
REPEAT="${BENCH_REPEAT:-1}"
if [[ ! -f "$DATA/01.in" ]]; then
    echo "conformance data not found in $DATA (set RINGMARKET_CONFORMANCE_DIR)" >&2
    exit 2
fi
cargo build --release -q -p ringmarket-cli
BIN=target/release/ringmarket

now_ns() { date +%s%N; }
# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a && b) printf "%.3f", a / b; else print "-" }'; }

# Each scenario as "name input reference".
scenarios=()
for n in 01 02 03 04 05 06 07 08 09 10; do
    scenarios+=("$n $DATA/$n.in $DATA/$n.ref.out")
done
for f in cli/tests/scenarios/*.json; do
    ref="${f%.json}.ref.out"
    [[ -f "$ref" ]] || ref="$f"
    scenarios+=("$(basename "$f" .json) $f $ref")
done

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); median of $REPEAT run(s) per cell"
printf '%-26s %9s %9s %7s\n' scenario 'park s' 'sleep s' 'park/sleep'
total_park=0
total_sleep=0
for entry in "${scenarios[@]}"; do
    read -r name input ref <<<"$entry"
    declare -A runs=([park]="" [sleep]="")
    for _ in $(seq "$REPEAT"); do
        for mode in $MODES; do
            start=$(now_ns)
            "$BIN" run "$input" --quiet --wait "$mode" --time-scale 1 --expect "$ref" >/dev/null
            runs[$mode]+=" $(( $(now_ns) - start ))"
        done
    done
    declare -A took=([park]=0 [sleep]=0)
    for mode in $MODES; do
        # shellcheck disable=SC2086 # the runs are a list of numbers
        took[$mode]=$(median ${runs[$mode]})
    done
    total_park=$(( total_park + took[park] ))
    total_sleep=$(( total_sleep + took[sleep] ))
    printf '%-26s %9s %9s %7s\n' "$name" "$(secs "${took[park]}")" "$(secs "${took[sleep]}")" \
        "$(ratio "${took[park]}" "${took[sleep]}")"
done
printf '%-26s %9s %9s %7s\n' total "$(secs $total_park)" "$(secs $total_sleep)" \
    "$(ratio $total_park $total_sleep)"

# Test 10 has 10 products, 50 producers, 200 consumers with up to 5 carts of up to 4
# operations of up to 5 units, and queues of 40. The generated one keeps its shape, with
# FACTOR times the consumers.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" gen -o "$tmp/big" --seed 10 --products 10 --mixed-producers 40 \
    --consumers $(( 200 * FACTOR )) --carts 5 --ops 4 --max-quantity 5 --queue-size 40 --no-in
echo
echo "test 10 shape, $(( 200 * FACTOR )) consumers, --time-scale 0:"
for mode in $MODES; do
    printf '%-6s ' "$mode"
    "$BIN" run "$tmp/big.json" --quiet --stats --wait "$mode" --time-scale 0 \
        --expect "$tmp/big.ref.out" 2>&1 >/dev/null | sed 's/^ringmarket run: //'
done
