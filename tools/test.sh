#!/usr/bin/env bash
# Builds ringwire and runs every test: the README's test command, and what CI runs.
#
# Usage: tools/test.sh [preset...]
#   no preset, CI unset:   release only (the quick check for a newcomer, a few minutes)
#   no preset, CI=true:    release, asan (address+undefined) and tsan, then the libFuzzer targets
#                          for RINGWIRE_FUZZ_SECONDS each (default 60) — what .ci/run does
#   tools/test.sh all:     the same set as CI, locally
#   tools/test.sh asan …:  just those presets (release, debug, asan, tsan: CMakePresets.json)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh

ci=false
if [ "${CI:-}" = "true" ]; then ci=true; fi
presets=("$@")
if [ ${#presets[@]} -eq 0 ] && $ci; then presets=(all); fi
if [ ${#presets[@]} -eq 0 ]; then presets=(release); fi
fuzz=false
if [ "${presets[*]}" = "all" ]; then
  presets=(release asan tsan)
  fuzz=true
fi

# Sanitizer reports fail the test that triggers them, in the test binary and in every server
# process a test spawns; stacks make the report worth reading.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

jobs=$(nproc)
for preset in "${presets[@]}"; do
  start=$SECONDS
  echo "== ${preset}: configure and build" >&2
  werror=OFF
  if $ci; then werror=ON; fi
  cmake --preset "$preset" -G Ninja -DRINGWIRE_WERROR="$werror" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== ${preset}: test" >&2
  ctest --preset "$preset" -j "$jobs"
  echo "== ${preset}: passed in $((SECONDS - start)) s" >&2
done


if $fuzz; then
  start=$SECONDS
  echo "== fuzz: ${RINGWIRE_FUZZ_SECONDS:-60} s per target" >&2
  tools/fuzz.sh "${RINGWIRE_FUZZ_SECONDS:-60}"
  echo "== fuzz: passed in $((SECONDS - start)) s" >&2
fi
