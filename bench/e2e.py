#!/usr/bin/env python3
"""End-to-end benchmark: ringwire-server's engines against their peers, one command.

Variants (each a server on one loop, pinned to --server-cpu):
  native  ringwire-server --engine native (epoll)   uring  the same with --backend io_uring
  uv      ringwire-server --engine uv
  uvref   bench/uv_echo_reference ("libuv done well", single file)
  raw     bench/raw_epoll_echo (a tuned single-file raw-epoll echo: the native engine's floor)
  rawuring  bench/raw_uring_echo (a single-file io_uring echo: multishot accept and recv into
          provided buffers, DEFER_TASKRUN, one send in flight)
  floor   bench/floor_pair server (blocking, a thread per connection: the loopback floor)
  nohist  native from --nohist-build, a build configured with -DRINGWIRE_HISTOGRAMS=OFF: the
          pair native/nohist is what the per-loop histograms cost

Cases (DESIGN §4), each client pinned to --load-cpu:
  latency   ringwire-load, 1 connection, depth 1, 64 B
  rtt       floor_pair client (blocking ping-pong, 64 B): the round trip with the client held
            fixed, so `floor` here is the minimal blocking client/server pair
  small     ringwire-load, 64 connections, depth 16, 64 B
  many      ringwire-load, 1,000 connections, depth 1, 64 B
  large     ringwire-load, 8 connections, depth 4, 64 KiB
  accept    floor_pair client --reconnect: a new connection per frame, one echo each
  churn     bench/churn_client, 64 connections at once, each connect, one 64 B echo, close (a
            reset): accept churn; efficiency = connections per second of server CPU
  idle      server RSS delta (VmRSS) and mappings (/proc/PID/maps, what vm.max_map_count caps)
            over --idle-connections connections opened by this script, per engine: per
            connection idle, after one echo on each, and mid-frame (half a frame held on each)
  scaling   `ringwire-load sweep --connections --sweep-points --server-pid`, per engine: frames/s,
            p99 and server bytes per connection against the number of connections

Modes:
  paired      (default) the two variants of a pair run at once, both servers pinned to the same
              core, each driven by its own client on the other core; ratios come from the same
              seconds, so drift hits both alike.
  sequential  one variant at a time, alternating the order on every repeat.

Server CPU is read from /proc/PID/task/*/schedstat (ns on CPU) over the client's measured window;
efficiency = frames (bytes for `large`, connections for `accept`) per second of server CPU.

Writes a Markdown section "End-to-end: native vs uv" (or --title) into bench/RESULTS.md
(replacing an earlier one of that title) with the machine, the command, the medians and the ratios; `idle` and `scaling` write their
own sections ("End-to-end: idle memory per connection", "End-to-end: connection scaling").
Python 3 standard library only.
"""

import argparse
import json
import math
import os
import platform
import re
import resource
import shlex
import socket
import struct
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    # name: (client, client args, unit of efficiency, variants)
    "latency": ("load", ["--connections", "1", "--depth", "1", "--size", "64"], "frames",
                ["native", "uring", "uv", "uvref", "raw", "rawuring", "floor"]),
    "rtt": ("floor", ["--size", "64"], "frames", ["native", "uv", "uvref", "raw", "floor"]),
    "small": ("load", ["--connections", "64", "--depth", "16", "--size", "64"], "frames",
              ["native", "uring", "uv", "uvref", "raw", "rawuring", "nohist"]),
    "many": ("load", ["--connections", "1000", "--depth", "1", "--size", "64"], "frames",
             ["native", "uring", "uv", "uvref", "raw", "rawuring", "nohist"]),
    "large": ("load", ["--connections", "8", "--depth", "4", "--size", "65536"], "bytes",
              ["native", "uring", "uv", "uvref", "raw", "rawuring"]),
    "accept": ("floor", ["--size", "64", "--reconnect"], "connections",
               ["native", "uv", "uvref"]),
    "churn": ("churn", ["--connections", "64", "--size", "64"], "connections",
              ["native", "uring", "uv", "uvref", "raw", "rawuring"]),
}
# Cases with their own runner and section (not paired): one server per engine, one after another.
SOLO_CASES = ("idle", "scaling")
SOLO_ENGINES = ["native", "uv"]
# How long the idle case waits for the server to accept every connection before giving up.
ACCEPT_DEADLINE_S = 60
# The pairs whose ratios the issue asks for: engine against engine, engine against its
# reference (uv against libuv done well, native against a tuned raw-epoll echo), engine against
# the blocking floor.
PAIRS = [("native", "uv"), ("uring", "uv"), ("uv", "uvref"), ("native", "raw"),
         ("native", "floor"), ("uring", "raw"), ("rawuring", "raw"), ("uring", "rawuring")]


# Other builds a variant runs from (set from the command line): "nohist" -> --nohist-build.
OTHER_BUILDS = {"nohist": ROOT / "build" / "nohist"}


def server_command(build, variant):
    server = build / "server" / "ringwire-server"
    common = ["--port", "0", "--threads", "1", "--log-level", "warn"]
    return {
        "native": [str(server), "--engine", "native", "--backend", "epoll", *common],
        "nohist": [str(OTHER_BUILDS["nohist"] / "server" / "ringwire-server"), "--engine",
                   "native", "--backend", "epoll", *common],
        "uring": [str(server), "--engine", "native", "--backend", "io_uring", *common],
        "uv": [str(server), "--engine", "uv", *common],
        "uvref": [str(build / "bench" / "uv_echo_reference"), "--port", "0"],
        "raw": [str(build / "bench" / "raw_epoll_echo"), "--port", "0"],
        "rawuring": [str(build / "bench" / "raw_uring_echo"), "--port", "0"],
        "floor": [str(build / "bench" / "floor_pair"), "server", "--port", "0"],
    }[variant]


class Server:
    """One server process pinned to a CPU; owns the process and stops it on close()."""

    def __init__(self, build, variant, cpu):
        self.variant = variant
        self.process = subprocess.Popen(["taskset", "-c", str(cpu), *server_command(build, variant)],
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on [^ ]*:(\d+)", line)
        if not match:
            self.close()
            raise RuntimeError(f"{variant}: no ready line (got {line!r})")
        self.port = int(match.group(1))

    def rss_bytes(self):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"{self.variant}: no VmRSS")

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def map_count(self):
        """Memory mappings (lines of /proc/PID/maps): what vm.max_map_count limits."""
        return len(Path(f"/proc/{self.process.pid}/maps").read_text().splitlines())

    def cpu_ns(self):
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that just ended
        return total

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def client_command(build, case, port, args, json_file):
    kind, case_args, _, _ = CASES[case]
    timing = ["--duration", str(args.duration), "--warmup", str(args.warmup)]
    if kind == "load":
        return [str(build / "tools" / "load" / "ringwire-load"), "--host", "127.0.0.1", "--port",
                str(port), "--threads", "1", *case_args, *timing, "--no-live", "--json",
                json_file]
    if kind == "churn":
        return [str(build / "bench" / "churn_client"), "--port", str(port), *case_args, *timing,
                "--json", json_file]
    return [str(build / "bench" / "floor_pair"), "client", "--port", str(port), *case_args,
            *timing, "--json", json_file]


def run_clients(build, case, servers, args, tmp):
    """Runs one client per server at once; returns one result per server, with its CPU use."""
    clients = []
    for i, server in enumerate(servers):
        out = os.path.join(tmp, f"{case}-{server.variant}-{i}.json")
        command = client_command(build, case, server.port, args, out)
        clients.append((subprocess.Popen(["taskset", "-c", str(args.load_cpu), *command],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True), out))
    # Sample inside the clients' measured window: after connecting and the warm-up, before the end.
    margin = min(0.3, args.duration / 10)
    time.sleep(args.warmup + margin)
    cpu0 = [s.cpu_ns() for s in servers]
    t0 = time.monotonic()
    time.sleep(args.duration - 2 * margin)
    cpu1 = [s.cpu_ns() for s in servers]
    t1 = time.monotonic()
    results = []
    for server, (process, out), c0, c1 in zip(servers, clients, cpu0, cpu1):
        _, stderr = process.communicate(timeout=args.duration + args.warmup + 60)
        if process.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"{case}/{server.variant}: client failed: {stderr.strip()[-300:]}")
        with open(out) as f:
            result = json.load(f)
        cpu_share = (c1 - c0) / 1e9 / (t1 - t0)  # server CPU-seconds per second
        rate = result["frames_per_s"]
        unit = CASES[case][2]
        work = rate * 65536 if unit == "bytes" else rate
        results.append({
            "variant": server.variant,
            "frames_per_s": rate,
            "p50": result["latency_us"]["p50"],
            "p99": result["latency_us"]["p99"],
            "errors": result.get("errors", 0),
            "cpu": cpu_share,
            # ringwire-load's own CPU per frame (the floor_pair client does not measure it)
            "client_ns": result.get("client_cpu", {}).get("ns_per_frame", float("nan")),
            "efficiency": work / cpu_share if cpu_share > 0 else 0.0,
        })
    return results


def run_variants(build, case, variants, args, tmp):
    servers = []
    try:
        for variant in variants:
            servers.append(Server(build, variant, args.server_cpu))
        return run_clients(build, case, servers, args, tmp)
    finally:
        for server in servers:
            server.close()


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt_rate(value, unit):
    if unit == "bytes":
        return f"{value / 1e6:,.0f} MB"
    return f"{value:,.0f}"


def summarise(samples, case, variants):
    """Median of each variant's figures over its runs."""
    rows = {}
    for variant in variants:
        runs = [r for r in samples if r["variant"] == variant]
        if runs:
            rows[variant] = {k: median([r[k] for r in runs])
                             for k in ("frames_per_s", "p50", "p99", "cpu", "efficiency",
                                       "client_ns")}
            rows[variant]["errors"] = sum(r["errors"] for r in runs)
            rows[variant]["runs"] = len(runs)
    return rows


def machine():
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def wait_for(condition, deadline_s, what):
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def echo_once(sockets, size=64):
    """Sends one frame on every socket, then reads every reply (pipelined over the sockets)."""
    frame = struct.pack("!I", size) + bytes(size)
    for s in sockets:
        s.sendall(frame)
    for s in sockets:
        got = b""
        while len(got) < len(frame):
            chunk = s.recv(len(frame) - len(got))
            if not chunk:
                raise RuntimeError("server closed an idle connection")
            got += chunk


def hold_partial_frame(sockets, size=1024):
    """Sends half of a frame on every socket: the server then holds a ring for each connection."""
    half = struct.pack("!I", size) + bytes(size // 2)
    for s in sockets:
        s.sendall(half)


def settled_memory(server):
    """The server's (RSS, mappings) once two samples 0.2 s apart agree (at most ~5 s)."""
    sample = (server.rss_bytes(), server.map_count())
    for _ in range(25):
        time.sleep(0.2)
        previous, sample = sample, (server.rss_bytes(), server.map_count())
        if sample == previous:
            break
    return sample


def run_idle(build, args):
    """Server RSS and mappings per connection: idle, after one echo on each (rings lent and
    returned), and while each holds half a frame (a ring lent per connection: the busy case)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = args.idle_connections + 64
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    rows = []
    for repeat in range(args.repeats):
        for engine in (SOLO_ENGINES if repeat % 2 == 0 else list(reversed(SOLO_ENGINES))):
            server = Server(build, engine, args.server_cpu)
            sockets = []
            try:
                fds_before, rss_before = server.open_fds(), server.rss_bytes()
                maps_before = server.map_count()
                for _ in range(args.idle_connections):
                    sockets.append(socket.create_connection(("127.0.0.1", server.port)))
                wait_for(lambda: server.open_fds() >= fds_before + args.idle_connections,
                         ACCEPT_DEADLINE_S, f"{engine} to accept {args.idle_connections}")
                rss_idle, maps_idle = server.rss_bytes(), server.map_count()
                echo_once(sockets)
                rss_echoed = server.rss_bytes()
                hold_partial_frame(sockets)
                rss_held, maps_held = settled_memory(server)
            finally:
                for s in sockets:
                    s.close()
                server.close()
            n = args.idle_connections
            row = {"variant": engine, "rss_before": rss_before,
                   "idle": (rss_idle - rss_before) / n, "echoed": (rss_echoed - rss_before) / n,
                   "held": (rss_held - rss_before) / n, "maps_before": maps_before,
                   "maps_idle": (maps_idle - maps_before) / n,
                   "maps_held": (maps_held - maps_before) / n}
            print(f"idle {engine} #{repeat + 1}: baseline {rss_before / 2**20:.1f} MiB "
                  f"{maps_before} maps, {row['idle']:.0f} B/conn idle, {row['echoed']:.0f} B/conn "
                  f"after one echo, {row['held']:.0f} B/conn mid-frame; maps/conn "
                  f"{row['maps_idle']:.2f} idle, {row['maps_held']:.2f} mid-frame", flush=True)
            rows.append(row)
    lines = [
        f"Server: `ringwire-server --engine E --threads 1` pinned to CPU {args.server_cpu}; "
        f"client: this script, {args.idle_connections} blocking connections, then one 64 B echo "
        f"on each, then half of a 1 KiB frame on each (mid-frame: every connection holds its "
        f"input). RSS from /proc/PID/status VmRSS and mappings from /proc/PID/maps, deltas over "
        f"the server's before the connections; medians of {args.repeats} runs (engines "
        f"alternated). Kernel socket memory is not in RSS.", "",
        "| engine | baseline RSS MiB | idle B/conn | after one echo B/conn | mid-frame B/conn | "
        "baseline maps | maps/conn idle | maps/conn mid-frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for engine in SOLO_ENGINES:
        runs = [r for r in rows if r["variant"] == engine]
        lines.append(f"| {engine} | {median([r['rss_before'] for r in runs]) / 2**20:.1f} | "
                     f"{median([r['idle'] for r in runs]):,.0f} | "
                     f"{median([r['echoed'] for r in runs]):,.0f} | "
                     f"{median([r['held'] for r in runs]):,.0f} | "
                     f"{median([r['maps_before'] for r in runs]):,.0f} | "
                     f"{median([r['maps_idle'] for r in runs]):.2f} | "
                     f"{median([r['maps_held'] for r in runs]):.2f} |")
    return lines


def run_scaling(build, args, tmp):
    """ringwire-load sweep against each engine, the server's RSS sampled at every point."""
    load = build / "tools" / "load" / "ringwire-load"
    lines = [
        f"Server: `ringwire-server --engine E --threads 1` pinned to CPU {args.server_cpu}; "
        f"client pinned to CPU {args.load_cpu}: `ringwire-load sweep --connections "
        f"{args.sweep_points} --threads 1 --depth 1 --size 64 --duration {args.duration:g} "
        f"--warmup {args.warmup:g} --server-pid PID --out DIR` (one run per point; one sweep "
        f"per engine). B/conn is the server's RSS half-way through the point's window minus its "
        f"RSS before the sweep, over the connections.", "",
        "| engine | connections | frames/s | p50 µs | p99 µs | errors | server B/conn | client |",
        "|---|---:|---:|---:|---:|---:|---:|---|"]
    for engine in SOLO_ENGINES:
        server = Server(build, engine, args.server_cpu)
        out = os.path.join(tmp, f"sweep-{engine}")
        try:
            command = ["taskset", "-c", str(args.load_cpu), str(load), "sweep", "--connections",
                       args.sweep_points, "--host", "127.0.0.1", "--port", str(server.port),
                       "--threads", "1", "--depth", "1", "--size", "64", "--duration",
                       str(args.duration), "--warmup", str(args.warmup), "--no-live",
                       "--server-pid", str(server.process.pid), "--out", out]
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        finally:
            server.close()
        print(done.stdout, flush=True)
        sweep_file = Path(out) / "sweep.json"
        if not sweep_file.exists():
            raise RuntimeError(f"scaling/{engine}: sweep failed: {done.stderr.strip()[-300:]}")
        for point in json.loads(sweep_file.read_text())["points"]:
            if "error" in point:
                lines.append(f"| {engine} | {point['connections']} | failed: {point['error']} "
                             f"| | | | | |")
                continue
            latency = point["latency_us"]
            lines.append(
                f"| {engine} | {point['connections']:,} | {point['frames_per_s']:,.0f} | "
                f"{latency['p50']:.1f} | {latency['p99']:.1f} | {point['errors']} | "
                f"{point.get('server_bytes_per_connection', 0):,.0f} | "
                f"{'saturated' if point['client_saturated'] else 'ok'} |")
    return lines


def solo_section(case, body, args, load_before, started):
    title = {"idle": "## End-to-end: idle memory per connection",
             "scaling": "## End-to-end: connection scaling"}[case]
    command = "bench/e2e.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    load_after = os.getloadavg()
    return title, "\n".join([
        title, "",
        f"Command: `{command}`.  ",
        f"Machine: {machine()}. Shared with other work while it ran: load average before "
        f"{load_before[0]:.1f}, after {load_after[0]:.1f}; took {time.time() - started:.0f} s "
        f"on {time.strftime('%Y-%m-%d %H:%M')}." + (f"  \n{args.note}" if args.note else ""),
        "", *body]) + "\n"


def write_results(path, text, title="## End-to-end: native vs uv"):
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    start = old.find(title)
    if start >= 0:
        end = old.find("\n## ", start + len(title))
        old = old[:start].rstrip() + "\n" + ("" if end < 0 else old[end:])
    path.write_text(old.rstrip() + "\n\n" + text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=str(ROOT / "build" / "release"))
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"any of {','.join([*CASES, *SOLO_CASES])}")
    parser.add_argument("--pairs", default=",".join(f"{a}/{b}" for a, b in PAIRS),
                        help="paired mode: which pairs to run, e.g. native/uv,uv/uvref")
    parser.add_argument("--mode", choices=["paired", "sequential"], default="paired")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--note", default="", help="a line for the report (e.g. how busy)")
    parser.add_argument("--title", default="End-to-end: native vs uv",
                        help="the RESULTS.md section the paired or sequential cases write")
    parser.add_argument("--idle-connections", type=int, default=10000,
                        help="idle case: connections held open (mind the open-file limit)")
    parser.add_argument("--sweep-points", default="1,10,100,1000,10000",
                        help="scaling case: the sweep's --connections")
    parser.add_argument("--nohist-build", default=str(OTHER_BUILDS["nohist"]),
                        help="the build the nohist variant runs (-DRINGWIRE_HISTOGRAMS=OFF)")
    args = parser.parse_args()
    build = Path(args.build)
    OTHER_BUILDS["nohist"] = Path(args.nohist_build)
    cases = args.cases.split(",")
    pairs = [tuple(p.split("/")) for p in args.pairs.split(",")]
    load_before = os.getloadavg()
    started = time.time()

    report = []  # (case, pair or None, rows, ratios)
    with tempfile.TemporaryDirectory() as tmp:
        for case in [c for c in cases if c in SOLO_CASES]:
            case_started, case_load = time.time(), os.getloadavg()
            body = run_idle(build, args) if case == "idle" else run_scaling(build, args, tmp)
            title, text = solo_section(case, body, args, case_load, case_started)
            print(text)
            write_results(Path(args.out), text, title)
        cases = [c for c in cases if c not in SOLO_CASES]
        for case in cases:
            variants = CASES[case][3]
            if args.mode == "paired":
                for a, b in pairs:
                    if a not in variants or b not in variants:
                        continue
                    samples, ratios = [], {"efficiency": [], "p50": [], "p99": []}
                    for repeat in range(args.repeats):
                        order = [a, b] if repeat % 2 == 0 else [b, a]
                        results = run_variants(build, case, order, args, tmp)
                        by = {r["variant"]: r for r in results}
                        samples += results
                        ratios["efficiency"].append(by[a]["efficiency"] / by[b]["efficiency"])
                        ratios["p50"].append(by[a]["p50"] / by[b]["p50"])
                        ratios["p99"].append(by[a]["p99"] / by[b]["p99"])
                        print(f"{case} {a}|{b} #{repeat + 1}: " + "  ".join(
                            f"{r['variant']} {r['frames_per_s']:,.0f}/s p50 {r['p50']:.1f}us "
                            f"cpu {r['cpu']:.0%} eff {r['efficiency']:,.0f}" for r in results),
                            flush=True)
                    report.append((case, (a, b), summarise(samples, case, [a, b]),
                                   {k: median(v) for k, v in ratios.items()}))
            else:
                samples = []
                for repeat in range(args.repeats):
                    order = variants if repeat % 2 == 0 else list(reversed(variants))
                    for variant in order:
                        results = run_variants(build, case, [variant], args, tmp)
                        samples += results
                        r = results[0]
                        print(f"{case} {variant} #{repeat + 1}: {r['frames_per_s']:,.0f}/s "
                              f"p50 {r['p50']:.1f}us cpu {r['cpu']:.0%} eff {r['efficiency']:,.0f}",
                              flush=True)
                rows = summarise(samples, case, variants)
                ratios = {}
                for a, b in PAIRS:
                    if a in rows and b in rows:
                        ratios[f"{a}/{b}"] = {
                            "efficiency": rows[a]["efficiency"] / rows[b]["efficiency"],
                            "p50": rows[a]["p50"] / rows[b]["p50"],
                            "p99": rows[a]["p99"] / rows[b]["p99"]}
                report.append((case, None, rows, ratios))

    if not report:
        return
    load_after = os.getloadavg()
    command = "bench/e2e.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        f"## {args.title}", "",
        f"Command: `{command}` ({args.mode}; {args.repeats} repeats of {args.duration:g} s "
        f"measured after {args.warmup:g} s warm-up; servers pinned to CPU {args.server_cpu} with "
        f"one loop, clients to CPU {args.load_cpu}).  ",
        f"Machine: {machine()}. Load average before {load_before[0]:.1f}, after "
        f"{load_after[0]:.1f}; run took {time.time() - started:.0f} s on "
        f"{time.strftime('%Y-%m-%d %H:%M')}." + (f"  \n{args.note}" if args.note else ""), "",
        "Efficiency = work per second of server CPU (frames; bytes echoed for `large`; "
        "connections for `accept`), CPU from /proc/PID/task/*/schedstat over the client's "
        "measured window. Figures are medians over the repeats; a ratio is the median of the "
        "per-run ratios (paired: both variants measured over the same seconds).", "",
        "| case | pair | variant | frames/s | p50 µs | p99 µs | server CPU | efficiency /CPU-s "
        "| client ns/frame | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, pair, rows, _ in report:
        unit = CASES[case][2]
        for variant, row in rows.items():
            client = "—" if math.isnan(row["client_ns"]) else f"{row['client_ns']:.0f}"
            lines.append(
                f"| {case} | {'/'.join(pair) if pair else '—'} | {variant} | "
                f"{row['frames_per_s']:,.0f} | {row['p50']:.1f} | {row['p99']:.1f} | "
                f"{row['cpu']:.0%} | {fmt_rate(row['efficiency'], unit)} {unit} | {client} | "
                f"{row['errors']} |")
    lines += ["", "| case | ratio | efficiency | p50 | p99 |", "|---|---|---:|---:|---:|"]
    for case, pair, _, ratios in report:
        if pair:
            lines.append(f"| {case} | {pair[0]}/{pair[1]} | {ratios['efficiency']:.3f} | "
                         f"{ratios['p50']:.3f} | {ratios['p99']:.3f} |")
        else:
            for name, r in ratios.items():
                lines.append(f"| {case} | {name} | {r['efficiency']:.3f} | {r['p50']:.3f} | "
                             f"{r['p99']:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(Path(args.out), text, f"## {args.title}")


if __name__ == "__main__":
    main()
