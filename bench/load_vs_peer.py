#!/usr/bin/env python3
"""ringwire-load against its peer, bench/min_load_client, on one server (issue 10).

Both clients drive bench/raw_epoll_echo (pinned to --server-cpu), one at a time, each pinned to
--load-cpu, alternating which goes first on every repeat:

  open    16 connections x 64 B, open loop at each --rates point (plus a search upwards): a rate
          is "held" when the replies per second are within 1% of it, p99 (from the scheduled
          send) is at most 2 ms and no reply failed its check. Reports, per client, the highest
          rate held and the p99 at each rate.
  closed  64 connections x depth 16 x 64 B: client CPU per reply (user + system over the window).

Prints a Markdown section and, with --out, appends it to that file (bench/RESULTS.md).
Python 3 standard library only.
"""

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELD_TOLERANCE = 0.01
HELD_P99_US = 2000.0


def start_server(build, cpu):
    proc = subprocess.Popen(["taskset", "-c", str(cpu), f"{build}/bench/raw_epoll_echo", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r":(\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"raw_epoll_echo did not start: {line!r}")
    return proc, int(m.group(1))


def run_ringwire_load(build, cpu, port, args, rate, depth, connections, duration, warmup):
    cmd = ["taskset", "-c", str(cpu), f"{build}/tools/load/ringwire-load", "--port", str(port),
           "--connections", str(connections), "--size", "64", "--depth", str(depth),
           "--duration", str(duration), "--warmup", str(warmup), "--no-live", "--json", "-"]
    if rate:
        cmd += ["--rate", str(rate)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 60)
    if out.returncode not in (0, 1):
        sys.exit(f"ringwire-load failed ({out.returncode}): {out.stderr}")
    j = json.loads(out.stdout)
    return {"frames_per_s": j["frames_per_s"], "p50_us": j["latency_us"]["p50"],
            "p99_us": j["latency_us"]["p99"], "errors": j["errors"],
            "cpu_ns_per_frame": j["client_cpu"]["ns_per_frame"],
            "cpu_fraction": sum(j["client_cpu"]["thread_fraction"])}


def run_peer(build, cpu, port, args, rate, depth, connections, duration, warmup):
    cmd = ["taskset", "-c", str(cpu), f"{build}/bench/min_load_client", "--port", str(port),
           "--connections", str(connections), "--size", "64", "--depth", str(depth),
           "--duration", str(duration), "--warmup", str(warmup)]
    if rate:
        cmd += ["--rate", str(rate)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 60)
    fields = dict(kv.split("=") for kv in out.stdout.split())
    if "frames_per_s" not in fields:
        sys.exit(f"min_load_client failed ({out.returncode}): {out.stderr}")
    return {k: float(fields[k]) for k in ("frames_per_s", "p50_us", "p99_us", "errors",
                                          "cpu_ns_per_frame", "cpu_fraction")}


CLIENTS = {"ringwire-load": run_ringwire_load, "min_load_client": run_peer}


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def paired(args, port, repeats, **kw):
    """Each client `repeats` times, alternating the order; per client the list of results."""
    results = {name: [] for name in CLIENTS}
    names = list(CLIENTS)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            results[name].append(CLIENTS[name](args.build, args.load_cpu, port, args, **kw))
    return results


def held(result, rate):
    return (result["frames_per_s"] >= rate * (1 - HELD_TOLERANCE)
            and result["p99_us"] <= HELD_P99_US and result["errors"] == 0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=str(ROOT / "build" / "release"))
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    p.add_argument("--rates", default="100000,150000,200000,250000,300000,350000,400000,500000")
    p.add_argument("--open-depth", type=int, default=1024, help="in-flight cap per connection, both")
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--modes", default="open,closed")
    p.add_argument("--note", default="")
    p.add_argument("--out", help="append the Markdown section to this file")
    args = p.parse_args()

    server, port = start_server(args.build, args.server_cpu)
    lines = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        if "open" in args.modes:
            lines += ["", "Open loop, 16 connections x 64 B, in-flight cap "
                      f"{args.open_depth}; median of {args.repeats} (alternating order). "
                      "\"held\": replies/s within 1% of the rate, p99 <= 2 ms, 0 errors.", "",
                      "| rate/s | ringwire-load frames/s | p50 µs | p99 µs | CPU | held "
                      "| min_load_client frames/s | p50 µs | p99 µs | CPU | held |",
                      "|---:|---:|---:|---:|---:|:--:|---:|---:|---:|---:|:--:|"]
            best = {name: 0 for name in CLIENTS}
            for rate in [int(r) for r in args.rates.split(",")]:
                res = paired(args, port, args.repeats, rate=rate, depth=args.open_depth,
                             connections=16, duration=args.duration, warmup=args.warmup)
                row = [f"{rate:,}"]
                for name in CLIENTS:
                    m = {k: median([r[k] for r in res[name]]) for k in res[name][0]}
                    ok = held(m, rate)
                    if ok:
                        best[name] = max(best[name], rate)
                    row += [f"{m['frames_per_s']:,.0f}", f"{m['p50_us']:.0f}", f"{m['p99_us']:.0f}",
                            f"{m['cpu_fraction']:.0%}", "yes" if ok else "no"]
                lines.append("| " + " | ".join(row) + " |")
                print(lines[-1], flush=True)
            lines += ["", "Highest rate held: " +
                      ", ".join(f"{n} {best[n]:,}/s" for n in CLIENTS) + "."]
        if "closed" in args.modes:
            res = paired(args, port, max(args.repeats, 3), rate=0, depth=16, connections=64,
                         duration=args.duration, warmup=args.warmup)
            lines += ["", f"Closed loop, 64 connections x depth 16 x 64 B; median of "
                      f"{max(args.repeats, 3)} (alternating order):", "",
                      "| client | frames/s | CPU ns/frame | runs (ns/frame) |", "|---|---:|---:|---|"]
            for name in CLIENTS:
                per = [r["cpu_ns_per_frame"] for r in res[name]]
                fps = median([r["frames_per_s"] for r in res[name]])
                lines.append(f"| {name} | {fps:,.0f} | {median(per):.0f} | "
                             + ", ".join(f"{x:.0f}" for x in per) + " |")
                print(lines[-1], flush=True)
    finally:
        server.kill()
        server.wait()

    head = ["", "## ringwire-load vs its peer client (bench/min_load_client)", "",
            f"{started}, {platform.node()}, {os.cpu_count()} CPUs; raw_epoll_echo on CPU "
            f"{args.server_cpu}, each client on CPU {args.load_cpu}; {args.duration:g} s measured "
            f"after {args.warmup:g} s warm-up per run.",
            "Command: `python3 bench/load_vs_peer.py " + shlex.join(sys.argv[1:]) + "`"]
    if args.note:
        head.append(args.note)
    text = "\n".join(head + lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
