#!/usr/bin/env bash
# CPU per frame of one ringwire-load thread against one ringwire-server loop, small frames
# (64 connections, depth 16, 64 B), each pinned to its own core. Prints both costs and their ratio.
# usage: bench/load_efficiency.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-10}
port=${PORT:-7400}
taskset -c 0 "$build/server/ringwire-server" --port "$port" --threads 1 --log-level warn &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

ticks() { awk '{print $14 + $15, $14}' "/proc/$1/stat"; }  # utime+stime, utime: clock ticks
taskset -c 1 "$build/tools/load/ringwire-load" --port "$port" --threads 1 --connections 64 \
  --depth 16 --size 64 --duration "$seconds" --warmup 1 --no-live --json /tmp/load_efficiency.json \
  > /tmp/load_efficiency.txt &
load=$!
sleep 1.5                      # past connecting and the warm-up: inside the measured window
read -r s0 u0 < <(ticks $server); t0=$(date +%s.%N)
sleep $((seconds - 2))
read -r s1 u1 < <(ticks $server); t1=$(date +%s.%N)
wait $load
cat /tmp/load_efficiency.txt
python3 - "$s0" "$s1" "$t0" "$t1" "$(getconf CLK_TCK)" "$u0" "$u1" <<'PY'
import json, sys
s0, s1, t0, t1, hz, u0, u1 = map(float, sys.argv[1:])
r = json.load(open('/tmp/load_efficiency.json'))
fps = r['frames_per_s']
server_ns = (s1 - s0) / hz / ((t1 - t0) * fps) * 1e9
server_busy = (s1 - s0) / hz / (t1 - t0)
load_ns = r['client_cpu']['ns_per_frame']
print(f"frames/s {fps:,.0f}")
server_user = (u1 - u0) / max(s1 - s0, 1)
load_user = r['client_cpu']['user_seconds'] / max(r['client_cpu']['seconds'], 1e-9)
print(f"server loop  {server_ns:6.0f} ns CPU/frame  (busy {server_busy:.0%} of its core, {server_user:.0%} user)")
print(f"load thread  {load_ns:6.0f} ns CPU/frame  (busy {r['client_cpu']['thread_fraction'][0]:.0%} of its core, {load_user:.0%} user)")
print(f"load/server  {load_ns / server_ns:.2f}")
PY
