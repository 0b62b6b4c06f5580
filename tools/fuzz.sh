#!/usr/bin/env bash
# Builds the libFuzzer target (clang, -fsanitize=fuzzer,address,undefined) and runs it.
# Usage: tools/fuzz.sh [SECONDS]   (default 60; CI runs it through tools/test.sh)
#   The seeds in tests/fuzz/corpus/ are read, never written; what the fuzzer finds goes to
#   build/fuzz/corpus/ (kept between runs) and a crash to build/fuzz/crash-* — rerun one with
#   build/fuzz/connection_fuzz FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=build/fuzz
tools/install-deps.sh

cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j "$(nproc)"
mkdir -p "$build/corpus"

# One process; -max_len lets an input carry a few frames and filler runs past a ring's size.
# Leak checks stay on: a ring or connection leaked per input would show at exit.
set +e
"$build/connection_fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=20 \
  -print_final_stats=1 -artifact_prefix="$build/" "$build/corpus" tests/fuzz/corpus \
  >"$build/last-run.log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "fuzz: failed (exit $status); the full log is $build/last-run.log" >&2
  tail -40 "$build/last-run.log" >&2
  exit "$status"
fi
# The start, the last progress line (executions, cov: edges, ft: features, corpus) and the totals.
grep -E "^#[0-9]+[[:space:]]+INITED" "$build/last-run.log" | tail -1
grep -E "^#[0-9]+[[:space:]]+(pulse|NEW|REDUCE|DONE)" "$build/last-run.log" | tail -1
grep -E "^stat::" "$build/last-run.log"
