#!/usr/bin/env bash
# Scaling runs: throughput against thread pairs for the market, the MPMC ring and channel and
# the SPSC ring, every contender in the same run (rotating order within each round).
#
#  1. builds the benches (release, `cargo bench --no-run`);
#  2. runs `scaling` of benches/{market,mpmc,spsc}.rs into docs/scaling/{market,mpmc,spsc}.csv
#     (this machine's rows replaced, other machines' kept), the market's under `perf stat`
#     where perf is usable (docs/scaling/counters-NPROC.txt);
#  3. records the machine and the run in docs/scaling/run-NPROCcpu.txt;
#  4. draws docs/scaling/{structure}-{NPROC}cpu.svg with scripts/plot.py.
#
# Usage: scripts/scaling.sh [THREADS_LIST]
#   THREADS_LIST: thread pairs, e.g. 1,2,4; by default 1, 2 and those of 4, 8, 16 with
#   2 * threads <= nproc (every thread a core of its own).
#   SCALING_ROUNDS=N  rounds per case (median over them; default 21)
#   SCALING_QUICK=1   a check of the tooling: few items per run, one round
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=docs/scaling
NPROC=$(nproc)
CPU=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
CPU=${CPU:-unknown CPU}

if [[ $# -ge 1 ]]; then
    THREADS=$1
else
    THREADS=1,2
    for t in 4 8 16; do
        if (( 2 * t <= NPROC )); then THREADS+=",$t"; fi
    done
fi
if [[ -n "${SCALING_QUICK:-}" ]]; then
    ROUNDS=${SCALING_ROUNDS:-1}
else
    ROUNDS=${SCALING_ROUNDS:-21}
fi
export SCALING_QUICK

echo "building the benches" >&2
# The executables, by bench name, from cargo's JSON messages.
declare -A EXE
while read -r name path; do
    EXE[$name]=$path
done < <(cargo bench --bench market --bench mpmc --bench spsc --no-run --message-format=json \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])
')
for name in market mpmc spsc; do
    [[ -n "${EXE[$name]:-}" ]] || { echo "no executable for bench $name" >&2; exit 1; }
done

mkdir -p "$OUT"
RUN="$OUT/run-${NPROC}cpu.txt"
COUNTERS="$OUT/counters-${NPROC}.txt"
start=$(date +%s)
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $NPROC"
    echo "cpu: $CPU"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rustc: $(rustc --version)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "threads: $THREADS; rounds: $ROUNDS${SCALING_QUICK:+; quick (SCALING_QUICK)}"
} > "$RUN"
cat "$RUN" >&2

# `perf stat` where it can count: hardware counters where the machine exposes them (often
# not in a virtual machine), software ones anyway.
EVENTS=""
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
    EVENTS=task-clock,context-switches,cpu-migrations,page-faults
    if perf stat -x, -e cycles true 2>&1 >/dev/null | grep -q '^[0-9]'; then
        EVENTS=cycles,instructions,cache-references,cache-misses,branch-misses,$EVENTS
    else
        echo "perf cannot count hardware events here: software counters only" | tee -a "$RUN" >&2
    fi
fi
if [[ -n "$EVENTS" ]]; then
    echo "market under perf stat -> $COUNTERS" >&2
    perf stat -o "$COUNTERS" -e "$EVENTS" \
        -- "${EXE[market]}" --bench scaling "$THREADS" "$OUT/market.csv" "$ROUNDS" 2>>"$RUN"
else
    echo "perf is not usable here (not installed, or not allowed to count): no counters" \
        | tee -a "$RUN" >&2
    "${EXE[market]}" --bench scaling "$THREADS" "$OUT/market.csv" "$ROUNDS" 2>>"$RUN"
fi
"${EXE[mpmc]}" --bench scaling "$THREADS" "$OUT/mpmc.csv" "$ROUNDS" 2>>"$RUN"
"${EXE[spsc]}" --bench scaling "$THREADS" "$OUT/spsc.csv" "$ROUNDS" 2>>"$RUN"
{
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "took: $(( $(date +%s) - start )) s"
} >> "$RUN"
tail -n 2 "$RUN" >&2

python3 scripts/plot.py "$OUT"
