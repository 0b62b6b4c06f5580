#!/usr/bin/env python3
"""Past one machine, on one: hosts as network namespaces, HAProxy in front, generators merged.

Builds a small network of namespaces joined by one bridge: three server hosts, one balancer host
and two load hosts, addressed from 198.18.0.0/24 (RFC 2544's benchmarking range) with no route
anywhere but that link. Starts ringwire-server on each server host, HAProxy (TCP mode, leastconn,
HTTP health checks against each server's metrics port) on the balancer, and ringwire-load on each
load host against the balancer; merges the generators' results with `ringwire-load merge`, shows
each server's share, checks the merge is exact and prints a verdict. Everything it made (namespaces,
links, processes, files) is removed on exit, on failure and on Ctrl-C.

  tools/multihost.py [--build build/release] [--duration 10]
                     [--kill-server-after S | --restart-server-after S]

--kill-server-after S kills one server host's process with SIGKILL S seconds into the run: the
report shows the errors that caused (only that server's connections, by kind), that HAProxy took it
out of rotation, and that a fresh run afterwards goes only to the others, without errors.
--restart-server-after S restarts srv2's process S seconds into the run the way a rolling restart
does (a new process takes the listening sockets with --handover, then the old one drains on
SIGTERM; the generators run with --reconnect, as clients of a draining server must): 0 errors.
Exit status: 0 every check passed; 1 a check failed; 2 cannot run here (not root, no namespaces,
no haproxy, no binaries).
"""

import argparse
import base64
import csv
import io
import json
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PROG = "multihost"
SUBNET = "198.18.0"
BALANCER = f"{SUBNET}.2"
SERVERS = {"srv1": f"{SUBNET}.11", "srv2": f"{SUBNET}.12", "srv3": f"{SUBNET}.13"}
LOADERS = {"load1": f"{SUBNET}.21", "load2": f"{SUBNET}.22"}
PORT = 7000
METRICS_PORT = 9100
# Connection-loss kinds: the only errors a killed server may cause at the generators.
LOSS_KINDS = {"peer_closed", "socket_error"}


class CannotRun(Exception):
    """This machine cannot run the arrangement (exit 2, one line)."""


def run(*argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


class Network:
    """The namespaces and links; delete() undoes whatever was made, in any state."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.namespaces = []

    def ns(self, host):
        return f"{self.prefix}-{host}"

    def add_namespace(self, host):
        done = subprocess.run(["ip", "netns", "add", self.ns(host)], capture_output=True, text=True)
        if done.returncode != 0:
            raise CannotRun(f"cannot create a network namespace: {done.stderr.strip()}")
        self.namespaces.append(self.ns(host))

    def build(self, hosts):
        self.add_namespace("link")
        link = self.ns("link")
        run("ip", "-n", link, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", link, "link", "set", "br0", "up")
        for host, address in hosts.items():
            self.add_namespace(host)
            ns = self.ns(host)
            # Both ends are made inside namespaces: nothing appears in the caller's own.
            run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name",
                f"v-{host}", "netns", link)
            run("ip", "-n", link, "link", "set", f"v-{host}", "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            routes = run("ip", "-n", ns, "route", "show")
            if "default" in routes:
                raise RuntimeError(f"{ns} has a default route; refusing to go on")

    def delete(self):
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces.clear()


class Processes:
    """Every process started, killed on cleanup."""

    def __init__(self):
        self.all = []

    def start(self, ns, argv, **kwargs):
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kwargs)
        self.all.append(proc)
        return proc

    def stop_all(self):
        for proc in self.all:
            if proc.poll() is None:
                proc.kill()
        for proc in self.all:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def wait_for_line(proc, needle, timeout_s, what):
    """Reads proc's stdout until a line contains needle; returns that line."""
    deadline = time.monotonic() + timeout_s
    buffered = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise RuntimeError(f"{what} exited (status {proc.wait()}) before it was ready")
        buffered += chunk
        for line in buffered.decode(errors="replace").splitlines():
            if needle in line:
                return line
    raise RuntimeError(f"{what} was not ready within {timeout_s} s")


class Haproxy:
    def __init__(self, workdir, health_path):
        self.socket_path = os.path.join(workdir, "haproxy.sock")
        self.config_path = os.path.join(workdir, "haproxy.cfg")
        servers = "\n".join(f"  server {name} {addr}:{PORT}" for name, addr in SERVERS.items())
        if health_path:
            checks = (f"  option httpchk GET {health_path}\n  http-check expect status 200\n"
                      f"  default-server check port {METRICS_PORT} inter 200ms fall 2 rise 2")
        else:
            checks = "  default-server check inter 200ms fall 2 rise 2"
        with open(self.config_path, "w") as f:
            f.write(f"""global
  stats socket {self.socket_path} mode 600 level admin
  maxconn 4096
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend ring
  bind {BALANCER}:{PORT}
  default_backend servers
backend servers
  balance leastconn
{checks}
{servers}
""")

    def stats(self):
        """{server name: row of `show stat`} for the backend's servers."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(self.socket_path)
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        text = data.decode().lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows if r["pxname"] == "servers" and r["svname"] in SERVERS}

    def wait_until(self, predicate, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                rows = self.stats()
                if predicate(rows):
                    return rows
            except OSError:
                pass  # the stats socket is not up yet
            time.sleep(0.05)
        raise RuntimeError(f"HAProxy: {what} within {timeout_s} s")


def scrape(net, host, metric, port=METRICS_PORT):
    """Sum of `metric` over every loop of one server, read from its /metrics inside its host."""
    url = f"http://{SERVERS[host]}:{port}/metrics"
    done = subprocess.run(
        ["ip", "netns", "exec", net.ns(host), sys.executable, "-c",
         "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3)"
         ".read().decode())", url], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    total = 0.0
    for line in done.stdout.splitlines():
        if line.startswith(metric + "{") or line.startswith(metric + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---- an independent reading of ringwire's histogram encoding (core/src/histogram.cc) ----
SUB_BUCKET_BITS = 11
BUCKETS = 32
COUNTS_LENGTH = (BUCKETS + 1) * (1 << (SUB_BUCKET_BITS - 1))


def varints(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode_histogram(encoded):
    """(counts, max) from the base64 "encoded" field of a --json histogram."""
    data = base64.b64decode(encoded)
    if data[:4] != b"RWH1":
        raise ValueError("not a ringwire histogram")
    pos, fields = 4, []
    for _ in range(8):
        value, pos = varints(data, pos)
        fields.append(value)
    if fields[0] != SUB_BUCKET_BITS or fields[1] != BUCKETS:
        raise ValueError("unexpected histogram layout")
    counts, i = [0] * COUNTS_LENGTH, 0
    while pos < len(data):
        word, pos = varints(data, pos)
        if word % 2 == 0:
            counts[i] = word // 2
            i += 1
        else:
            i += (word + 1) // 2
    return counts, fields[5]


def highest_of_index(index):
    if index < (1 << SUB_BUCKET_BITS):
        return index
    bucket = (index >> (SUB_BUCKET_BITS - 1)) - 1
    sub = index - (bucket << (SUB_BUCKET_BITS - 1))
    return (sub << bucket) + (1 << bucket) - 1


def pooled_percentiles(histograms, percentiles):
    """The percentiles (µs) of one histogram holding every sample of all the given ones."""
    counts = [sum(column) for column in zip(*(h[0] for h in histograms))]
    largest = max(h[1] for h in histograms)
    total = sum(counts)
    out = {}
    for key, p in percentiles.items():
        rank = min(max(math.ceil(p / 100.0 * total), 1), total)
        seen = 0
        for index, n in enumerate(counts):
            seen += n
            if seen >= rank:
                out[key] = min(highest_of_index(index), largest) / 1e3
                break
    return out


# ---- the run ----
def start_server(net, procs, args, workdir, host, name, metrics_port=METRICS_PORT):
    """Starts ringwire-server on `host` and waits for its ready line."""
    log = open(os.path.join(workdir, f"{name}.log"), "w")
    restartable = []
    if args.restart_server_after is not None:
        # A successor takes the listening sockets over this unix socket: nothing is reset.
        handover = os.path.join(workdir, f"{host}-handover.sock")
        restartable = ["--reuse-port", "--handover", handover]
    proc = procs.start(net.ns(host), [
        args.server, "--bind", SERVERS[host], "--port", str(PORT), "--threads", "1",
        "--metrics-port", str(metrics_port), "--drain-timeout", "5", *restartable],
        stdout=subprocess.PIPE, stderr=log)
    wait_for_line(proc, "listening on", 10, f"ringwire-server on {host}")
    return proc


def run_generators(net, procs, args, workdir, tag, duration, during=None, reconnect=False):
    """Runs ringwire-load on every load host at once; returns {host: result json}."""
    running = {}
    for host in LOADERS:
        out = os.path.join(workdir, f"{tag}-{host}.json")
        log = open(os.path.join(workdir, f"{tag}-{host}.log"), "w")
        running[host] = (out, procs.start(net.ns(host), [
            args.load, "--host", BALANCER, "--port", str(PORT),
            "--connections", str(args.connections), "--threads", "1", "--depth", "4",
            "--size", "64", "--warmup", "1", "--duration", str(duration), "--json", out,
            *(["--reconnect"] if reconnect else [])],
            stdout=log, stderr=subprocess.STDOUT))
    if during:
        during()
    results = {}
    for host, (out, proc) in running.items():
        status = proc.wait(timeout=duration + 60)
        if status not in (0, 1):  # 1: the run counted errors, judged below
            raise RuntimeError(f"ringwire-load on {host} failed (status {status}); see its log")
        with open(out) as f:
            results[host] = json.load(f)
    return results


def merge(args, workdir, tag, results):
    files = [os.path.join(workdir, f"{tag}-{host}.json") for host in results]
    out = os.path.join(workdir, f"{tag}-merged.json")
    done = subprocess.run([args.load, "merge", *files, "--json", out],
                          capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"ringwire-load merge failed: {done.stderr.strip()}")
    with open(out) as f:
        return done.stdout + done.stderr, json.load(f)


class Verdict:
    def __init__(self):
        self.failures = []

    def check(self, ok, line):
        print(f"  [{'ok' if ok else 'FAIL'}] {line}")
        if not ok:
            self.failures.append(line)


def check_merge(verdict, results, merged):
    total = lambda key: sum(r[key] for r in results.values())
    for key in ("frames_completed", "errors", "connections", "bytes_received"):
        verdict.check(merged[key] == total(key),
                      f"merged {key} {merged[key]} = sum of the generators' {total(key)}")
    wanted = {"p50": 50.0, "p99": 99.0, "p999": 99.9}
    pooled = pooled_percentiles(
        [decode_histogram(r["latency_us"]["encoded"]) for r in results.values()], wanted)
    for key in wanted:
        m = merged["latency_us"][key]
        verdict.check(math.isclose(m, pooled[key], rel_tol=1e-12, abs_tol=1e-9),
                      f"merged {key} {m:.1f} µs = {pooled[key]:.1f} µs of one histogram fed "
                      f"every sample of both generators")


def shares(haproxy_rows, before=None):
    """{server: sessions HAProxy sent it} (since `before`, when given)."""
    return {name: int(row["stot"]) - (int(before[name]["stot"]) if before else 0)
            for name, row in haproxy_rows.items()}


def report_shares(verdict, net, sessions, alive, judge=True, ports=None):
    print("  per server: sessions from HAProxy in this run, frames received since start "
          "(its /metrics)")
    for name in SERVERS:
        port = (ports or {}).get(name, METRICS_PORT)
        frames = scrape(net, name, "ringwire_frames_received_total", port) if name in alive else None
        shown = "killed" if frames is None else f"{int(frames)}"
        print(f"    {name} {SERVERS[name]:<12} sessions {sessions[name]:>5}  frames {shown}")
    if not judge:
        return
    counted = [sessions[name] for name in alive]
    even = sum(counted) / len(counted)
    verdict.check(all(abs(n - even) <= 0.2 * even for n in counted),
                  f"each server's share of connections within 20% of even ({even:.1f})")


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build/release", help="ringwire build directory")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--connections", type=int, default=30, help="connections per generator")
    parser.add_argument("--kill-server-after", type=float, default=None, metavar="S",
                        help="SIGKILL srv2's process S seconds into the run")
    parser.add_argument("--restart-server-after", type=float, default=None, metavar="S",
                        help="S seconds into the run, start a new srv2 process on the port "
                             "(--reuse-port) and SIGTERM the old one: a rolling restart")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, json)")
    parser.add_argument("--cannot-run-status", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kill_server_after is not None and args.restart_server_after is not None:
        parser.error("--kill-server-after and --restart-server-after are two runs: pick one")
    args.server = os.path.abspath(os.path.join(args.build, "server", "ringwire-server"))
    args.load = os.path.abspath(os.path.join(args.build, "tools", "load", "ringwire-load"))

    net = Network(f"rwmh{os.getpid()}")
    procs = Processes()
    workdir = tempfile.mkdtemp(prefix="ringwire-multihost-")
    # Ctrl-C and SIGTERM unwind through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        if os.geteuid() != 0:
            raise CannotRun("needs root, for network namespaces (run it as root)")
        for tool in ("ip", "haproxy"):
            if shutil.which(tool) is None:
                raise CannotRun(f"needs {tool} (tools/install-deps.sh installs it)")
        for binary in (args.server, args.load):
            if not os.access(binary, os.X_OK):
                raise CannotRun(f"no {binary}: build first (cmake --build {args.build})")
        return arrange_and_run(net, procs, args, workdir)
    except CannotRun as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return args.cannot_run_status
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"{PROG}: {e} (logs in {workdir})", file=sys.stderr)
        args.keep = True
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        net.delete()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def arrange_and_run(net, procs, args, workdir):
    hosts = {"lb": BALANCER, **SERVERS, **LOADERS}
    net.build(hosts)
    print(f"network: {len(hosts)} namespaces ({net.prefix}-*) on one bridge, {SUBNET}.0/24, "
          f"no route out")
    restarting = args.restart_server_after is not None
    killing = args.kill_server_after is not None
    servers = {host: start_server(net, procs, args, workdir, host, host) for host in SERVERS}
    # A restart moves the process (and its metrics port) but never closes the service port: there
    # the check is a connect to the service port itself.
    haproxy = Haproxy(workdir, None if restarting else "/healthz")
    hlog = open(os.path.join(workdir, "haproxy.log"), "w")
    procs.start(net.ns("lb"), ["haproxy", "-db", "-f", haproxy.config_path],
                stdout=hlog, stderr=subprocess.STDOUT)
    haproxy.wait_until(lambda rows: len(rows) == 3 and all(r["status"] == "UP" for r in
                                                           rows.values()), 15, "servers not UP")
    print(f"servers: {', '.join(f'{h} {a}:{PORT}' for h, a in SERVERS.items())}; "
          f"HAProxy on {BALANCER}:{PORT} (leastconn, checks: "
          f"{'connect' if restarting else 'GET /healthz'}), every server UP")

    verdict = Verdict()
    before = haproxy.stats()
    event = {}

    def kill_one():
        time.sleep(1 + args.kill_server_after)  # 1 s of warm-up first
        event["open"] = int(haproxy.stats()["srv2"]["scur"])
        servers["srv2"].send_signal(signal.SIGKILL)
        servers["srv2"].wait()
        start = time.monotonic()
        haproxy.wait_until(lambda rows: rows["srv2"]["status"].startswith("DOWN"), 10,
                           "srv2 not taken out of rotation")
        event["detected_s"] = time.monotonic() - start

    def restart_one():
        time.sleep(1 + args.restart_server_after)
        event["open"] = int(haproxy.stats()["srv2"]["scur"])
        event["stot"] = int(haproxy.stats()["srv2"]["stot"])
        old = servers["srv2"]
        # Its own metrics port: the old process serves its own until it exits.
        servers["srv2"] = start_server(net, procs, args, workdir, "srv2", "srv2-new",
                                       METRICS_PORT + 1)
        start = time.monotonic()
        old.send_signal(signal.SIGTERM)
        event["old_status"] = old.wait(timeout=30)
        event["drained_s"] = time.monotonic() - start

    mode = ""
    if killing:
        mode = f", srv2 killed at {args.kill_server_after:g} s"
    elif restarting:
        mode = f", srv2 restarted at {args.restart_server_after:g} s (new process, then SIGTERM)"
    print(f"run: {len(LOADERS)} generators x {args.connections} connections x depth 4 x 64 B, "
          f"{args.duration:g} s{mode}")
    results = run_generators(net, procs, args, workdir, "run", args.duration,
                             kill_one if killing else restart_one if restarting else None,
                             reconnect=restarting)
    text, merged = merge(args, workdir, "run", results)
    print(text.rstrip())
    print("checks:")
    check_merge(verdict, results, merged)
    sessions = shares(haproxy.stats(), before)
    if killing:
        check_kill(verdict, net, procs, args, workdir, haproxy, merged, event)
    elif restarting:
        moved = merged["reconnects"]["graceful_closes"]
        verdict.check(merged["errors"] == 0, f"{merged['errors']} errors across the restart")
        verdict.check(event["old_status"] == 0,
                      f"the old process drained and exited 0 in {event['drained_s']:.2f} s")
        verdict.check(0 < moved,
                      f"{moved} connections closed gracefully by the drain and reconnected, "
                      f"{merged['reconnects']['frames_resent']} unanswered frames re-sent "
                      f"({event['open']} were open on srv2)")
        taken = int(haproxy.stats()["srv2"]["stot"]) - event["stot"]
        verdict.check(taken > 0, f"the new srv2 process took {taken} connections")
        report_shares(verdict, net, sessions, SERVERS, judge=False,
                      ports={"srv2": METRICS_PORT + 1})
    else:
        report_shares(verdict, net, sessions, SERVERS)
        verdict.check(merged["errors"] == 0, f"{merged['errors']} errors")
    if verdict.failures:
        print(f"verdict: FAIL ({len(verdict.failures)} check(s) failed)")
        return 1
    print("verdict: ok")
    return 0


def check_kill(verdict, net, procs, args, workdir, haproxy, merged, event):
    kinds = {k: n for k, n in merged["errors_by_kind"].items() if n}
    verdict.check(merged["errors"] == event["open"] > 0,
                  f"{merged['errors']} errors: one for each of the {event['open']} connections "
                  f"open on srv2 when it was killed")
    verdict.check(set(kinds) <= LOSS_KINDS, f"errors by kind {kinds}: connection losses only")
    print(f"  HAProxy marked srv2 DOWN {event['detected_s']:.2f} s after the kill")
    before = haproxy.stats()
    print("after the kill: a fresh 2 s run")
    after = run_generators(net, procs, args, workdir, "after", 2)
    errors = sum(r["errors"] for r in after.values())
    sessions = shares(haproxy.stats(), before)
    verdict.check(errors == 0, f"{errors} errors after the kill")
    verdict.check(sessions["srv2"] == 0,
                  f"new connections went to the others: srv2 {sessions['srv2']}, "
                  f"srv1 {sessions['srv1']}, srv3 {sessions['srv3']}")
    report_shares(verdict, net, sessions, ["srv1", "srv3"])


if __name__ == "__main__":
    sys.exit(main())
