#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) and runs each in turn:
# connection_fuzz (the frame decoder and the native Connection), uv_connection_fuzz (the uv
# engine's UvConnection) and uring_connection_fuzz (the io_uring completion transport,
# UringConnection), all on the programs and oracle of tests/fuzz/fuzz_support.h, then
# connection_fuzz again over the kqueue backend (its Linux test double).
# Usage: tools/fuzz.sh [SECONDS]   (per run; default 60; CI runs it through tools/test.sh)
#   The seeds in tests/fuzz/corpus/ are read, never written; what the fuzzer finds goes to
#   build/fuzz/corpus/TARGET/ (kept between runs) and a crash to build/fuzz/RUN-crash-* —
#   rerun one with [RINGWIRE_FUZZ_BACKEND=kqueue] build/fuzz/TARGET FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=build/fuzz
tools/install-deps.sh

cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j "$(nproc)"
# One process per target, each for SECONDS; -max_len lets an input carry a few frames and filler
# runs past a buffer's size. Leak checks stay on: a buffer or connection leaked per input would
# show at exit.
# connection_fuzz runs once per poller backend of the fuzz build (RINGWIRE_FUZZ_BACKEND): epoll,
# and kqueue on its Linux test double; the runs share the target's corpus.
for run in connection_fuzz uv_connection_fuzz uring_connection_fuzz connection_fuzz:kqueue; do
  target=${run%%:*}
  backend=${run#"$target"}
  backend=${backend#:}
  name=$target${backend:+-$backend}
  mkdir -p "$build/corpus/$target"
  log="$build/last-run-$name.log"
  set +e
  RINGWIRE_FUZZ_BACKEND=$backend "$build/$target" -max_total_time="$seconds" -max_len=4096 \
    -timeout=20 -print_final_stats=1 -artifact_prefix="$build/$name-" "$build/corpus/$target" \
    tests/fuzz/corpus >"$log" 2>&1
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $name failed (exit $status); the full log is $log" >&2
    tail -40 "$log" >&2
    exit "$status"
  fi
  # The start, the last progress line (executions, cov: edges, ft: features, corpus), the totals.
  echo "$name:"
  grep -E "^#[0-9]+[[:space:]]+INITED" "$log" | tail -1
  grep -E "^#[0-9]+[[:space:]]+(pulse|NEW|REDUCE|DONE)" "$log" | tail -1
  grep -E "^stat::" "$log"
done
