#!/usr/bin/env bash
# Where one echo server's CPU goes per frame, in one of bench/e2e.py's cases (small: 64
# connections x depth 16 x 64 B, the default; many: 1,000 x 1 x 64 B; latency: 1 x 1 x 64 B;
# large: 8 x 4 x 64 KiB; churn: bench/churn_client, 64 at once, each connect, one echo, reset, where
# "per frame" is per connection): the server alone on CPU 0 with one loop, the client on CPU 1,
# `perf record` (cpu-clock: this machine has no hardware counters) over the client's measured
# window. Prints frames/s, the server's CPU per frame split into user and kernel (from
# /proc/PID/stat), its syscalls and context switches per frame (perf stat), then perf's split by
# binary, its top symbols and its user-space symbols (self time).
# Per-frame figures divide by the client's frames/s, measured over a window (seconds + 2 s) that
# holds the profiled one; on a busy machine the rate moves within it, so compare the servers' mix
# (user/kernel, syscalls per frame) rather than absolute nanoseconds across runs.
# Files (perf.data, counts, the client's JSON) stay in $OUT_DIR (default /tmp/profile_echo).
# usage: bench/profile_echo.sh native|uring|uv|raw|rawuring [BUILD_DIR] [SECONDS]
#                              [small|many|latency|large|churn]
set -euo pipefail
variant=${1:?usage: bench/profile_echo.sh native|uring|uv|raw|rawuring [BUILD_DIR] [SECONDS] [CASE]}
build=${2:-build/release}
seconds=${3:-5}
case ${4:-small} in
  small) load_shape=(--connections 64 --depth 16 --size 64) ;;
  many) load_shape=(--connections 1000 --depth 1 --size 64) ;;
  latency) load_shape=(--connections 1 --depth 1 --size 64) ;;
  large) load_shape=(--connections 8 --depth 4 --size 65536) ;;
  churn) load_shape=(--connections 64 --size 64) ;;
  *) echo "unknown case $4" >&2; exit 2 ;;
esac
out=${OUT_DIR:-/tmp/profile_echo}
mkdir -p "$out"
case $variant in
  native) server=("$build/server/ringwire-server" --engine native --backend epoll --threads 1
                  --log-level warn --port 0) ;;
  uring) server=("$build/server/ringwire-server" --engine native --backend io_uring --threads 1
                 --log-level warn --port 0) ;;
  uv) server=("$build/server/ringwire-server" --engine uv --threads 1 --log-level warn --port 0) ;;
  raw) server=("$build/bench/raw_epoll_echo" --port 0) ;;
  rawuring) server=("$build/bench/raw_uring_echo" --port 0) ;;
  *) echo "unknown variant $variant" >&2; exit 2 ;;
esac

log="$out/$variant.server.log"
taskset -c 0 "${server[@]}" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
port=$(sed -nE 's/^listening on [^ ]*:([0-9]+).*/\1/p' "$log")

if [[ ${4:-small} == churn ]]; then
  client=("$build/bench/churn_client" --port "$port" "${load_shape[@]}")
else
  client=("$build/tools/load/ringwire-load" --port "$port" --threads 1 "${load_shape[@]}" --no-live)
fi
taskset -c 1 "${client[@]}" --duration "$((seconds + 2))" --warmup 1 \
  --json "$out/$variant.load.json" >/dev/null &
load=$!
sleep 1.5  # past connecting and the warm-up (1,000 connections are up within 0.2 s here)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }  # utime, stime in clock ticks
read -r u0 s0 < <(ticks $pid)
t0=$(date +%s.%N)
events=raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto
events+=,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait2,syscalls:sys_enter_epoll_ctl
events+=,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_splice
events+=,syscalls:sys_enter_getpeername,syscalls:sys_enter_close,context-switches
perf stat -x, -e "$events" -o "$out/$variant.stat" -p "$pid" -- sleep "$seconds" &
stat=$!
perf record -e cpu-clock -F 2999 -g -o "$out/$variant.perf.data" -p "$pid" -- sleep "$seconds" \
  2>/dev/null >/dev/null
read -r u1 s1 < <(ticks $pid)
t1=$(date +%s.%N)
wait $stat
wait $load
python3 - "$u0" "$s0" "$u1" "$s1" "$t0" "$t1" "$(getconf CLK_TCK)" "$out/$variant.load.json" \
  "$variant" "$out/$variant.stat" <<'PY'
import json, sys
u0, s0, u1, s1, t0, t1, hz = map(float, sys.argv[1:8])
fps = json.load(open(sys.argv[8]))["frames_per_s"]
frames = fps * (t1 - t0)
user, kernel = (u1 - u0) / hz, (s1 - s0) / hz
print(f"{sys.argv[9]}: {fps:,.0f} frames/s; server CPU {(user + kernel) / (t1 - t0):.0%}; "
      f"{(user + kernel) / frames * 1e9:.0f} ns/frame = user {user / frames * 1e9:.0f} "
      f"+ kernel {kernel / frames * 1e9:.0f} ({user / (user + kernel):.1%} user)")
per_frame = {}
for line in open(sys.argv[10]):
    fields = line.strip().split(",")
    if len(fields) > 2 and fields[0].replace(".", "").isdigit():
        per_frame[fields[2].split(":")[-1].removeprefix("sys_enter_")] = float(fields[0]) / frames
print("per frame: " + ", ".join(f"{name} {count:.4f}" for name, count in per_frame.items()
                                if count > 0))
PY
echo "-- by binary (self time)"
perf report -i "$out/$variant.perf.data" --no-children --sort dso --stdio 2>/dev/null |
  grep -E '^ +[0-9]' | head -8 || true
echo "-- top symbols (self time)"
perf report -i "$out/$variant.perf.data" --no-children --sort dso,sym --stdio -g none \
  2>/dev/null | grep -E '^ +[0-9]' | head -25 || true
echo "-- user-space symbols (self time)"
perf report -i "$out/$variant.perf.data" --no-children --sort dso,sym --stdio -g none \
  2>/dev/null | grep -E '^ +[0-9]' | grep -v 'kernel' | head -25 || true
