#!/usr/bin/env bash
# Soak: ringwire-server at about 80% of its measured capacity for MINUTES (default 10), with
# connections churning beside the steady load. Reports errors (must be 0), the server's RSS at the
# start and the end of the run (must be flat) and latency over time; exits non-zero if a check
# fails.
#
# usage: bench/soak.sh [MINUTES] [BUILD_DIR]        (BUILD_DIR default build/release, built if
#                                                    missing; results in build/soak/)
#   1. capacity: a closed-loop ringwire-load run (64-byte echo, 16 connections, depth 8), 5 s
#   2. soak: an open-loop run at 80% of that rate (latency from the scheduled send time), its
#      live line each second kept as the latency-over-time record; beside it, a churn of short
#      ringwire-load runs, each opening SOAK_CHURN_CONNECTIONS connections, sending for 1 s and
#      closing them; the server's VmRSS sampled every 5 s
#   3. SIGTERM: the server must drain and exit 0
# Server on CPU 0 and the load generators on CPU 1 when there are two CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
build=${2:-build/release}
out=${SOAK_OUT:-build/soak}
# The steady load: enough connections and depth that 80% of capacity is reachable open-loop.
connections=16
depth=64
size=64
churn_connections=${SOAK_CHURN_CONNECTIONS:-16}
churn_rate=2000               # frames/s of each churn run: small beside the steady load
rss_interval_s=5
# Flat: the end may exceed the start by at most this share, or this many KiB (allocator noise).
rss_slack_share=0.05
rss_slack_kib=4096

if [ ! -x "$build/server/ringwire-server" ] || [ ! -x "$build/tools/load/ringwire-load" ]; then
  cmake --preset release -G Ninja >/dev/null
  cmake --build --preset release -j "$(nproc)" --target ringwire-server ringwire-load
fi
server_bin=$build/server/ringwire-server
load_bin=$build/tools/load/ringwire-load
mkdir -p "$out"
rm -f "$out"/churn-*.json

server_cpu=() load_cpu=()
if [ "$(nproc)" -ge 2 ]; then server_cpu=(taskset -c 0); load_cpu=(taskset -c 1); fi

"${server_cpu[@]}" "$server_bin" --port 0 --threads 1 --log-level warn >"$out/server.out" \
  2>"$out/server.log" &
server=$!
pids_to_stop=("$server")
cleanup() { for p in "${pids_to_stop[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/^listening on [^ ]*:\([0-9]*\) .*/\1/p' "$out/server.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "soak: the server did not start" >&2; cat "$out/server.log" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }

echo "soak: measuring capacity (closed loop, ${connections} connections, depth 8, ${size} B)" >&2
"${load_cpu[@]}" "$load_bin" --port "$port" --connections "$connections" --depth 8 \
  --size "$size" --duration 5 --warmup 1 --no-live --json "$out/capacity.json" >/dev/null
capacity=$(python3 -c "import json; print(int(json.load(open('$out/capacity.json'))['frames_per_s']))")
rate=$((capacity * 8 / 10))
seconds=$((minutes * 60))
echo "soak: capacity ${capacity} frames/s; ${minutes} min open loop at ${rate} frames/s with" \
  "${churn_connections} connections churning each second" >&2

start_rss=""
ticks0=$(cpu_ticks)
t0=$(date +%s.%N)
"${load_cpu[@]}" "$load_bin" --port "$port" --connections "$connections" --depth "$depth" \
  --size "$size" --rate "$rate" --duration "$seconds" --warmup 2 --live \
  --json "$out/soak.json" >"$out/soak-report.txt" 2>"$out/live.log" &
steady=$!
pids_to_stop+=("$steady")

# Churn: short runs, one after another, until the steady run ends.
(
  i=0
  while kill -0 "$steady" 2>/dev/null; do
    i=$((i + 1))
    "${load_cpu[@]}" "$load_bin" --port "$port" --connections "$churn_connections" \
      --rate "$churn_rate" --duration 1 --warmup 0 --no-live --json "$out/churn-$i.json" \
      >/dev/null 2>>"$out/churn.log" || echo "churn run $i: exit $?" >>"$out/churn.log"
  done
) &
churn=$!
pids_to_stop+=("$churn")

echo "elapsed_s,rss_kib" >"$out/rss.csv"
elapsed=0
while kill -0 "$steady" 2>/dev/null; do
  sleep "$rss_interval_s"
  elapsed=$((elapsed + rss_interval_s))
  rss=$(rss_kib)
  echo "$elapsed,$rss" >>"$out/rss.csv"
  # The start: once the pools and socket buffers have warmed up under the full load.
  if [ -z "$start_rss" ] && [ "$elapsed" -ge 15 ]; then start_rss=$rss; fi
done
steady_status=0
wait "$steady" || steady_status=$?
wait "$churn" || true
end_rss=$(rss_kib)
t1=$(date +%s.%N)
ticks1=$(cpu_ticks)
[ -n "$start_rss" ] || start_rss=$(sed -n 2p "$out/rss.csv" | cut -d, -f2)

kill -TERM "$server"
server_status=0
wait "$server" || server_status=$?
pids_to_stop=()

python3 - "$out" "$start_rss" "$end_rss" "$rss_slack_share" "$rss_slack_kib" "$steady_status" \
  "$server_status" "$ticks0" "$ticks1" "$t0" "$t1" "$(getconf CLK_TCK)" "$capacity" "$rate" \
  <<'PY' | tee "$out/summary.txt"
import glob, json, re, sys
(out, start_rss, end_rss, slack_share, slack_kib, steady_status, server_status, ticks0, ticks1,
 t0, t1, hz, capacity, rate) = sys.argv[1:]
start_rss, end_rss, slack_kib = int(start_rss), int(end_rss), int(slack_kib)
soak = json.load(open(f"{out}/soak.json"))
churn_runs = [json.load(open(f)) for f in glob.glob(f"{out}/churn-*.json")]
churn_errors = sum(r["errors"] for r in churn_runs)
churn_failures = sum(1 for line in open(f"{out}/churn.log") if line.startswith("churn run")) \
    if glob.glob(f"{out}/churn.log") else 0
churn_connections = sum(r["connections"] for r in churn_runs)
errors = soak["errors"] + churn_errors + churn_failures
cpu = (float(ticks1) - float(ticks0)) / float(hz) / (float(t1) - float(t0))

# Latency over time from the live lines: "[ 12.0s] rate 80.0k/s  p50 45.2us  p99 120us ..."
unit = {"ns": 1e-3, "us": 1, "ms": 1e3, "s": 1e6}
def us(text):
    value, suffix = re.match(r"([\d.]+)(ns|us|ms|s)", text).groups()
    return float(value) * unit[suffix]
def per_s(text):
    m = re.match(r"([\d.]+)([kMG]?)", text)
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
rows = []
for line in open(f"{out}/live.log"):
    m = re.match(r"\[\s*([\d.]+)s\] rate (\S+)/s\s+p50 (\S+)\s+p99 (\S+)\s+errors (\d+)", line)
    if m:
        rows.append((float(m.group(1)), per_s(m.group(2)), us(m.group(3)), us(m.group(4)),
                     int(m.group(5))))
span = rows[-1][0] if rows else 0
bucket = max(10.0, span / 10)
print(f"soak: {span / 60:.1f} min open loop at {int(rate):,} frames/s "
      f"(80% of the {int(capacity):,} frames/s measured), 64 B echo, {soak['connections']} steady "
      f"connections + {churn_connections:,} churned in {len(churn_runs)} short runs")
print(f"  {'window':>14} {'frames/s':>10} {'p50 us (median)':>16} {'p99 us (max)':>13} {'errors':>7}")
b = 0
while rows and b * bucket < span:
    part = [r for r in rows if b * bucket < r[0] <= (b + 1) * bucket]
    if part:
        p50s = sorted(r[2] for r in part)
        print(f"  {b * bucket:6.0f}-{(b + 1) * bucket:<6.0f}s {sum(r[1] for r in part) / len(part):10,.0f}"
              f" {p50s[len(p50s) // 2]:16.1f} {max(r[3] for r in part):13.1f} {part[-1][4]:7d}")
    b += 1
lat = soak["latency_us"]
print(f"  whole run: {soak['frames_per_s']:,.0f} frames/s, p50 {lat['p50']:.1f} us, p99 "
      f"{lat['p99']:.1f} us, p99.9 {lat['p999']:.1f} us, max {lat['max']:.1f} us; "
      f"client saturated: {soak.get('client_saturated')}; server CPU {cpu:.0%} of a core")
flat = end_rss <= start_rss + max(slack_kib, float(slack_share) * start_rss)
print(f"  errors: {errors} (steady {soak['errors']}, churn {churn_errors}, failed churn runs "
      f"{churn_failures}) -> {'OK' if errors == 0 else 'FAIL'}")
print(f"  server RSS: {start_rss / 1024:.1f} MiB at the start, {end_rss / 1024:.1f} MiB at the end "
      f"-> {'flat, OK' if flat else 'GREW, FAIL'}")
print(f"  exits: load {steady_status}, server after SIGTERM {server_status} "
      f"-> {'OK' if steady_status == '0' and server_status == '0' else 'FAIL'}")
sys.exit(0 if errors == 0 and flat and steady_status == "0" and server_status == "0" else 1)
PY
