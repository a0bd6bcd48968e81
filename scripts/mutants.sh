#!/usr/bin/env bash
# Mutation check: every patch under mutants/ is a small deliberate bug. Each is applied to a
# scratch copy of the tree (the library's own code stays clean) and the detector named in the
# patch's header is run on it; the detector must FAIL (the bug is caught).
#
#   scripts/mutants.sh                 # every mutant
#   scripts/mutants.sh 03 market       # the mutants whose file name contains 03 or market
#
# Header lines of a patch, before the diff:
#   # what the bug is
#   # detect: loom FILE [FILTER]        loom model(s) of loom-tests/tests/FILE.rs
#   # detect: test PACKAGE TEST [FILTER] an integration test (debug build); PACKAGE+FEATURE
#                                       builds it with that feature (ringmarket+async)
#   # detect: lib PACKAGE [FILTER]       the package's unit tests (debug build)
#   # detect: lincheck TEST             a lincheck stress test (debug build, default size)
#   # detect: miri TEST [FILTER]        a library integration test under Miri
#   # detect: tsan TEST [FILTER]        a library integration test under ThreadSanitizer
# Detectors are tried in the order given, cheapest first; the first that fails catches the
# mutant. With MUTANTS_ALL=1 every detector listed is run and must catch it.
#
# The script fails if a patch no longer applies, if a mutant does not build, or if a mutant
# survives. The scratch copy and its build folders live in $MUTANTS_DIR (default
# target/mutants) and are reused, so later runs build incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

dir="${MUTANTS_DIR:-$root/target/mutants}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
tree="$dir/tree"
limit="${MUTANT_TIMEOUT:-600}"

patches=()
for p in mutants/*.patch; do
  if [ $# -eq 0 ]; then
    patches+=("$p")
  else
    for want in "$@"; do
      case "$p" in *"$want"*) patches+=("$p"); break ;; esac
    done
  fi
done
if [ ${#patches[@]} -eq 0 ]; then
  echo "no mutant matches: $*" >&2
  exit 2
fi

# A fresh copy of the working tree (tracked and untracked-but-not-ignored files).
fresh_tree() {
  rm -rf "$tree"
  mkdir -p "$tree"
  git ls-files -z --cached --others --exclude-standard |
    tar --null -T - -cf - |
    tar -xf - -C "$tree"
  # Restored files keep their old times; make every source newer than any build so that
  # nothing built from the previous mutant is reused.
  find "$tree" -name '*.rs' -exec touch {} +
}

# Runs one detector in the scratch tree: 0 = caught (it failed), 1 = missed, 2 = broken.
detect() {
  local kind="$1"
  shift
  local build run
  case "$kind" in
    loom)
      local file="$1" filter="${2:-}"
      build=(env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$dir/target-loom"
        cargo test -p loom-tests --release --test "$file" --no-run)
      run=(env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$dir/target-loom" LOOM_MAX_PREEMPTIONS=2
        cargo test -p loom-tests --release --test "$file" -- --test-threads=2 $filter)
      ;;
    test)
      local pkg="${1%%+*}" test="$2" filter="${3:-}" features=()
      if [[ "$1" == *+* ]]; then features=(--features "${1#*+}"); fi
      build=(env CARGO_TARGET_DIR="$dir/target-debug" cargo test -p "$pkg" "${features[@]}" --test "$test" --no-run)
      run=(env CARGO_TARGET_DIR="$dir/target-debug" cargo test -p "$pkg" "${features[@]}" --test "$test" -- $filter)
      ;;
    lib)
      local pkg="$1" filter="${2:-}"
      build=(env CARGO_TARGET_DIR="$dir/target-debug" cargo test -p "$pkg" --lib --no-run)
      run=(env CARGO_TARGET_DIR="$dir/target-debug" cargo test -p "$pkg" --lib -- $filter)
      ;;
    lincheck)
      local test="$1"
      build=(env CARGO_TARGET_DIR="$dir/target-debug" cargo test -p lincheck --test "$test" --no-run)
      run=(env CARGO_TARGET_DIR="$dir/target-debug" cargo test -p lincheck --test "$test" -- --include-ignored)
      ;;
    tsan)
      # Its own build folder: sharing one with the real tree would let cargo reuse a mutant's
      # build for the real code (the copies' sources can look older than the last build).
      local test="$1" filter="${2:-}"
      local tsan_dir="$dir/target-tsan"
      local cargo_tsan=(env RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR="$tsan_dir"
        TSAN_OPTIONS="halt_on_error=1"
        cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --release
        -p ringmarket --test "$test")
      rustup component add rust-src --toolchain nightly >/dev/null
      build=("${cargo_tsan[@]}" --no-run)
      run=("${cargo_tsan[@]}" -- $filter)
      ;;
    miri)
      local test="$1" filter="${2:-}"
      build=(env CARGO_TARGET_DIR="$dir/target-miri" MIRIFLAGS="-Zmiri-strict-provenance"
        cargo +nightly miri test -p ringmarket --test "$test" --no-run)
      run=(env CARGO_TARGET_DIR="$dir/target-miri" MIRIFLAGS="-Zmiri-strict-provenance"
        cargo +nightly miri test -p ringmarket --test "$test" -- $filter)
      ;;
    *)
      echo "unknown detector: $kind" >&2
      return 2
      ;;
  esac
  if ! (cd "$tree" && "${build[@]}") >"$dir/build.log" 2>&1; then
    echo "    does not build:"
    tail -20 "$dir/build.log" | sed 's/^/      /'
    return 2
  fi
  local status=0
  (cd "$tree" && timeout "$limit" "${run[@]}") >"$dir/run.log" 2>&1 || status=$?
  if [ "$status" -eq 124 ]; then
    echo "    timed out after ${limit}s (not counted as caught)"
    return 1
  fi
  if [ "$status" -ne 0 ]; then
    local why
    why="$(grep -m1 -E "WARNING: ThreadSanitizer|panicked at|Causality violation|FAILED|error:" "$dir/run.log" || true)"
    echo "    caught: ${why:0:160}"
    return 0
  fi
  return 1
}

# First every detector on the unmutated copy: a detector that fails there would "catch"
# every mutant.
mapfile -t all_detectors < <(for patch in "${patches[@]}"; do sed -n 's/^# detect: //p' "$patch"; done | sort -u)
echo "--- baseline: each detector on the unmutated tree"
fresh_tree
for d in "${all_detectors[@]}"; do
  status=0
  # shellcheck disable=SC2086
  detect $d >/dev/null || status=$?
  case "$status" in
    1) echo "    passes: $d" ;;
    0)
      echo "    FAILS ON THE UNMUTATED TREE: $d" >&2
      sed 's/^/      /' "$dir/run.log" | tail -30 >&2
      exit 1
      ;;
    *)
      echo "    does not build: $d" >&2
      exit 1
      ;;
  esac
done

caught=0
tried=0
broken=0
for patch in "${patches[@]}"; do
  name="$(basename "$patch" .patch)"
  what="$(sed -n '1s/^# //p' "$patch")"
  mapfile -t detectors < <(sed -n 's/^# detect: //p' "$patch")
  tried=$((tried + 1))
  echo "--- $name: $what"
  fresh_tree
  # The scratch copy may sit inside this repository (under target/): keep git from finding
  # the repository above it, or `git apply` would silently skip paths outside the copy.
  if ! (cd "$tree" && export GIT_CEILING_DIRECTORIES="$dir" &&
    git apply --check "$root/$patch" && git apply "$root/$patch") 2>"$dir/apply.log"; then
    echo "    PATCH NO LONGER APPLIES:"
    sed 's/^/      /' "$dir/apply.log"
    broken=$((broken + 1))
    continue
  fi
  if [ ${#detectors[@]} -eq 0 ]; then
    echo "    no detector named in the patch"
    broken=$((broken + 1))
    continue
  fi
  hit=0
  missed=0
  for d in "${detectors[@]}"; do
    start=$(date +%s)
    echo "    detector: $d"
    status=0
    # shellcheck disable=SC2086
    detect $d || status=$?
    echo "    ($(($(date +%s) - start))s)"
    case "$status" in
      0) hit=$((hit + 1)) ;;
      1) missed=$((missed + 1)); echo "    missed by: $d" ;;
      *) broken=$((broken + 1)); hit=-1000; break ;;
    esac
    if [ "${MUTANTS_ALL:-0}" != 1 ] && [ "$hit" -gt 0 ]; then
      break
    fi
  done
  if [ "$hit" -gt 0 ] && { [ "${MUTANTS_ALL:-0}" != 1 ] || [ "$missed" -eq 0 ]; }; then
    caught=$((caught + 1))
    echo "    CAUGHT"
  elif [ "$hit" -ge 0 ]; then
    echo "    SURVIVED"
  fi
done
rm -rf "$tree"

echo "mutants: caught $caught of $tried"
if [ "$caught" -ne "$tried" ] || [ "$broken" -ne 0 ]; then
  echo "mutation check FAILED: $((tried - caught)) not caught ($broken broken)" >&2
  exit 1
fi
