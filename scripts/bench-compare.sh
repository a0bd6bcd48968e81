#!/usr/bin/env bash
# Before/after comparison of the market and SPSC benchmarks: an earlier revision against the
# working tree, run alternately on the same machine (not a test).
#
#   scripts/bench-compare.sh REV [PAIRS]    # PAIRS alternating pairs of runs (default 5)
#   BENCHES=market scripts/bench-compare.sh REV   # only the market (or only spsc)
#
# Builds the `market` and `spsc` bench executables of REV (in a scratch worktree under
# target/bench-compare) and of the working tree, then runs them in PAIRS pairs, the order
# within a pair alternating: the market's `alternating 3` mode and the SPSC criterion groups
# (short measurement). Prints, per case, the median over the pairs of the new/old time ratio
# (< 1: the working tree is faster). Raw outputs stay in target/bench-compare/out.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
rev="${1:?usage: scripts/bench-compare.sh REV [PAIRS]}"
pairs="${2:-5}"
dir="$root/target/bench-compare"
out="$dir/out"
mkdir -p "$dir"
rm -rf "$out"
mkdir -p "$out"

# The executable cargo built for bench $2 in the tree $1.
bench_exe() {
  (cd "$1" && cargo bench --bench "$2" --no-run 2>&1) |
    sed -n "s|.*Executable benches/$2.rs (\(.*\))|\1|p" | tail -1
}

old_tree="$dir/tree-$rev"
if [ ! -d "$old_tree" ]; then
  git worktree add --detach "$old_tree" "$rev" >/dev/null
fi
benches="${BENCHES:-market spsc}"
declare -A exe
for bench in $benches; do
  exe[old-$bench]="$old_tree/$(bench_exe "$old_tree" "$bench")"
  exe[new-$bench]="$root/$(bench_exe "$root" "$bench")"
done

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for pair in $(seq "$pairs"); do
  if [ $((pair % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
  for side in $order; do
    : >"$out/$side-market-$pair.txt"
    : >"$out/$side-spsc-$pair.txt"
    if [ -n "${exe[$side-market]:-}" ]; then
      "${exe[$side-market]}" alternating 3 >"$out/$side-market-$pair.txt"
    fi
    if [ -n "${exe[$side-spsc]:-}" ]; then
      "${exe[$side-spsc]}" --bench --warm-up-time 1 --measurement-time 2 --noplot \
        >"$out/$side-spsc-$pair.txt" 2>/dev/null
    fi
  done
  echo "pair $pair of $pairs done"
done

# Per case and side: one number per pair. Market: the "handles" column of each mix case and
# the handles cycle; SPSC: criterion's middle estimate, in ns.
extract() {
  local side="$1" pair="$2"
  awk '/^[0-9]\+[0-9]+ products/ { print "market " $1 " " $2 " " $3 "\t" $5 }
       /^single-thread cycle/ { for (i = 1; i <= NF; i++) if ($i == "handles") { print "market cycle\t" $(i + 1); break } }' \
    "$out/$side-market-$pair.txt"
  awk '/^[^ ]/ && !/time:/ { name = $1; want = 1 }
       /time:/ && (want || $1 != "time:") {
                 if ($1 != "time:") name = $1;
                 want = 0;
                 match($0, /\[[^]]*\]/); split(substr($0, RSTART + 1, RLENGTH - 2), v, " ");
                 t = v[3]; u = v[4];
                 if (u == "ps") t /= 1000; else if (u == "µs" || u == "us") t *= 1000; else if (u == "ms") t *= 1e6;
                 print "spsc " name "\t" t }' "$out/$side-spsc-$pair.txt"
}
for pair in $(seq "$pairs"); do
  extract old "$pair" | sed "s/^/$pair\told\t/"
  extract new "$pair" | sed "s/^/$pair\tnew\t/"
done >"$out/all.tsv"

echo
printf '%-44s %10s %10s %10s\n' case "old (med)" "new (med)" "new/old"
awk -F'\t' '
  { v[$3, $1, $2] = $4; cases[$3] = 1; pairs[$1] = 1 }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((n + 1) / 2)]
  }
  END {
    for (c in cases) {
      n = 0; delete r; delete o; delete w
      for (p in pairs) if ((c, p, "old") in v && (c, p, "new") in v && v[c, p, "old"] > 0) {
        n++; r[n] = v[c, p, "new"] / v[c, p, "old"]; o[n] = v[c, p, "old"]; w[n] = v[c, p, "new"]
      }
      if (n) printf "%-44s %10.1f %10.1f %10.3f\n", c, median(o, n), median(w, n), median(r, n)
    }
  }' "$out/all.tsv" | sort
