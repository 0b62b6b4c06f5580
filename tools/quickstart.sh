#!/usr/bin/env bash
# The README's first command: install what is missing, build Release, start ringwire-server on a
# free loopback port, drive it with a short load, print the report, and stop the server gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh

cmake --preset release -G Ninja >/dev/null
cmake --build --preset release -j "$(nproc)" --target ringwire-server ringwire-load

server_log=$(mktemp)
trap 'kill -TERM "$server_pid" 2>/dev/null || true; rm -f "$server_log"' EXIT
build/release/server/ringwire-server --port 0 --threads 2 >"$server_log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do  # up to 10 s for the ready line
  grep -q '^listening on' "$server_log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$server_log"; exit 1; }
  sleep 0.1
done
ready=$(grep '^listening on' "$server_log") || { cat "$server_log"; exit 1; }
echo "server: $ready"
port=$(sed -E 's/.*:([0-9]+) \(.*/\1/' <<<"$ready")

echo "load: 2000 pipelined frames of 0..70000 random bytes, in random splits, every reply checked"
python3 tools/protocol_client.py "$port" 2000 70000

echo "load: ringwire-load, 16 connections x depth 8, 64-byte frames, 3 s after 1 s of warm-up"
build/release/tools/load/ringwire-load --port "$port" --connections 16 --threads 2 --depth 8 \
  --size 64 --duration 3 --warmup 1 --no-live

kill -TERM "$server_pid"
wait "$server_pid"
trap - EXIT
sed -n '2,$p' "$server_log"
rm -f "$server_log"
