#!/usr/bin/env bash
# The peer client's figures are only worth something if it checks what it measures: runs
# bench/min_load_client closed and open loop against bench/raw_epoll_echo and expects replies,
# all checked, none failed (exit 0 and errors=0).
# usage: bench/check_min_load_client.sh MIN_LOAD_CLIENT RAW_EPOLL_ECHO
set -euo pipefail
client=$1
server=$2
log=$(mktemp)
"$server" --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q '^listening on' "$log" && break
  sleep 0.1
done
port=$(sed -nE 's/^listening on [^ ]*:([0-9]+).*/\1/p' "$log")
[ -n "$port" ] || { echo "no ready line: $(cat "$log")"; exit 1; }
for mode in "--depth 4" "--rate 5000 --depth 64"; do
  # shellcheck disable=SC2086
  line=$("$client" --port "$port" --connections 4 --size 100 $mode --duration 0.5 --warmup 0.1)
  echo "$mode: $line"
  grep -q ' errors=0 ' <<<"$line"
  frames=$(sed -nE 's/.* frames=([0-9]+).*/\1/p' <<<"$line")
  [ "$frames" -gt 100 ] || { echo "too few frames: $frames"; exit 1; }
done
