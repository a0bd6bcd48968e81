#!/usr/bin/env bash
# Runs the library's tests (unit, integration, threaded) and the linearizability stress mode
# under ThreadSanitizer and AddressSanitizer, and the threaded tests (files named *thread*,
# *stress* or *audit*, tests named threaded_*) and the stress mode under Miri with many
# scheduler seeds, with both Stacked Borrows and Tree Borrows. Zero reports allowed, no
# suppressions.
#
#   scripts/sanitize.sh            # everything: thread, address, miri
#   scripts/sanitize.sh thread     # ThreadSanitizer only (also: address, miri)
#
# Sizes (environment):
#   LINCHECK_SCENARIOS / LINCHECK_INVOCATIONS  stress size under the sanitizers (default 12 x 300)
#   MIRI_SEEDS                                 seeds per Miri run (default 4: -Zmiri-many-seeds=0..4)
#   SANITIZE_TARGET_DIR                        build folder (default target/sanitize)
#
# The sanitizers need std rebuilt with them (-Zbuild-std), so this installs nightly's rust-src
# when it is missing. Tests run in release mode (the sanitizers still see every access; the
# stress mode gets more interleavings per second).
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain="${SANITIZE_TOOLCHAIN:-nightly}"
target="x86_64-unknown-linux-gnu"
base_dir="${SANITIZE_TARGET_DIR:-target/sanitize}"
seeds="${MIRI_SEEDS:-4}"
export LINCHECK_SCENARIOS="${LINCHECK_SCENARIOS:-12}"
export LINCHECK_INVOCATIONS="${LINCHECK_INVOCATIONS:-300}"

what=("$@")
[ ${#what[@]} -eq 0 ] && what=(thread address miri)

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$toolchain" --profile minimal
fi
rustup component add rust-src --toolchain "$toolchain" >/dev/null

# The threaded tests of the library: integration test files named *thread*, *stress* or
# *audit*, plus every test file of the lincheck crate (the stress mode and its self-tests).
threaded=()
for f in tests/*thread*.rs tests/*stress*.rs tests/*audit*.rs; do
  [ -e "$f" ] && threaded+=(--test "$(basename "$f" .rs)")
done
lincheck_tests=()
lincheck_threaded=() # the same without the single-threaded checker tests (Miri is slow)
for f in lincheck/tests/*.rs; do
  [ -e "$f" ] || continue
  t="$(basename "$f" .rs)"
  lincheck_tests+=(--test "$t")
  [ "$t" = checker ] || lincheck_threaded+=(--test "$t")
done

reports=0
runs=0

# Runs one cargo command, echoing its output to a log, and counts sanitizer reports in it.
# A run fails on a non-zero exit or on any report, whatever the exit status.
run_logged() {
  local name="$1"
  shift
  local log
  log="$(mktemp)"
  echo "--- $name: $*"
  local status=0
  "$@" 2>&1 | tee "$log" || status=$?
  local found
  found=$(grep -cE 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|Undefined Behavior|error: unsupported operation' "$log" || true)
  rm -f "$log"
  runs=$((runs + 1))
  if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    echo "FAILED: $name (exit $status, $found reports)"
    reports=$((reports + found + 1))
    return 1
  fi
  echo "--- $name: clean"
}

sanitizer() {
  local kind="$1"
  local flags="-Zsanitizer=$kind"
  [ "$kind" = address ] && flags="$flags -Cforce-frame-pointers=yes"
  export RUSTFLAGS="$flags"
  export RUSTDOCFLAGS="$flags"
  export CARGO_TARGET_DIR="$base_dir/$kind"
  export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1"
  export ASAN_OPTIONS="detect_leaks=1 detect_stack_use_after_return=1"
  local common=(cargo +"$toolchain" test -Zbuild-std --target "$target" --release)
  run_logged "$kind: library unit and integration tests" \
    "${common[@]}" -p ringmarket --lib --tests
  run_logged "$kind: lincheck stress ($LINCHECK_SCENARIOS x $LINCHECK_INVOCATIONS per target)" \
    "${common[@]}" -p lincheck "${lincheck_tests[@]}"
  unset RUSTFLAGS RUSTDOCFLAGS CARGO_TARGET_DIR
}

miri() {
  rustup component add miri --toolchain "$toolchain" >/dev/null
  cargo +"$toolchain" miri setup >/dev/null
  export CARGO_TARGET_DIR="$base_dir/miri"
  local borrows
  for borrows in stacked tree; do
    local flags="-Zmiri-strict-provenance -Zmiri-many-seeds=0..$seeds"
    [ "$borrows" = tree ] && flags="$flags -Zmiri-tree-borrows"
    export MIRIFLAGS="$flags"
    run_logged "miri ($borrows borrows, $seeds seeds): threaded test files" \
      env -u LINCHECK_SCENARIOS -u LINCHECK_INVOCATIONS cargo +"$toolchain" miri test -p ringmarket "${threaded[@]}"
    run_logged "miri ($borrows borrows, $seeds seeds): tests named threaded_*" \
      env -u LINCHECK_SCENARIOS -u LINCHECK_INVOCATIONS cargo +"$toolchain" miri test -p ringmarket --tests -- threaded
    run_logged "miri ($borrows borrows, $seeds seeds): lincheck stress" \
      env -u LINCHECK_SCENARIOS -u LINCHECK_INVOCATIONS cargo +"$toolchain" miri test -p lincheck "${lincheck_threaded[@]}"
  done
  unset MIRIFLAGS CARGO_TARGET_DIR
}

failed=0
for w in "${what[@]}"; do
  case "$w" in
    thread | address) sanitizer "$w" || failed=1 ;;
    miri) miri || failed=1 ;;
    *)
      echo "unknown: $w (expected thread, address or miri)" >&2
      exit 2
      ;;
  esac
done

echo "sanitize: $runs runs, $reports reports"
if [ "$failed" -ne 0 ] || [ "$reports" -ne 0 ]; then
  exit 1
fi
