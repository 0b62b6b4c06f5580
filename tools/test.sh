#!/usr/bin/env bash
# Builds ringwire and runs every test: the README's test command, and what CI runs.
# Usage: tools/test.sh [preset...]   (default: release; CI also runs the sanitizer presets)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh

presets=("$@")
if [ ${#presets[@]} -eq 0 ]; then
  presets=(release)
fi
jobs=$(nproc)
for preset in "${presets[@]}"; do
  echo "== ${preset}: configure and build" >&2
  werror=OFF
  if [ "${CI:-}" = "true" ]; then werror=ON; fi
  cmake --preset "$preset" -G Ninja -DRINGWIRE_WERROR="$werror" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== ${preset}: test" >&2
  ctest --preset "$preset" -j "$jobs"
done
