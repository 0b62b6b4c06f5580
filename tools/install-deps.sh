#!/usr/bin/env bash
# Installs what ringwire builds and runs with, from Debian's archive. Idempotent: only what is
# missing is installed. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libuv1-dev libmimalloc-dev liburing-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev   # libFuzzer for the frame-decoder fuzzer
  gnuplot-nox                # ringwire-load sweep's plot
  help2man                   # the man pages, made from --help at build time
  zlib1g-dev                 # ringwire-load --hist-log: HdrHistogram's compressed histograms
  python3 procps util-linux  # the quickstart's checks; taskset for pinned runs
  systemd                    # systemd-analyze verify on the shipped units (a test)
  iproute2 haproxy python3-yaml  # tools/multihost.py's hosts and balancer; the manifest test
  prometheus                 # promtool, which lints /metrics in metrics_test
)
if [ "${RINGWIRE_DEPS_EXTRA:-}" != "" ]; then
  read -r -a extra <<<"$RINGWIRE_DEPS_EXTRA"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
