#!/usr/bin/env bash
# Checks that a benchmark peer echoes correctly before its figures are trusted: starts it on a
# free port, then tools/protocol_client.py sends 2,000 frames of 0..70,000 random bytes in random
# splits, pipelined, and checks every reply in order (two such connections at once).
# usage: bench/check_echo_peer.sh PEER_BINARY [ARGS...]   (the peer takes --port and prints
# "listening on HOST:PORT" when ready)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
"$@" --port 0 >"$log" 2>&1 &
peer=$!
trap 'kill $peer 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do  # up to 10 s for the ready line
  grep -q '^listening on' "$log" && break
  kill -0 $peer 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
port=$(sed -nE 's/^listening on [^ ]*:([0-9]+).*/\1/p' "$log")
[ -n "$port" ] || { echo "no ready line: $(cat "$log")"; exit 1; }
python3 "$root/tools/protocol_client.py" "$port" 2000 70000 &
first=$!
python3 "$root/tools/protocol_client.py" "$port" 2000 70000
wait $first
