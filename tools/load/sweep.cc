#include "sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include "json_report.h"
#include "load.h"
#include "plot.h"
#include "preflight.h"
#include "proc_sample.h"
#include "processes.h"
#include "report.h"

namespace ringwire::load {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Point {
  std::size_t requested = 0;
  std::size_t ran = 0;
  std::size_t processes = 1;
  std::string note;  // why the point was cut or failed
  bool ok = false;
  LoadResult result;
  std::uint64_t server_rss = 0;
  double server_bytes_per_connection = 0;
  // The servers' CPU seconds over server_window_s (the window as the hooks saw it); absent when
  // no --server-pid was given or one could not be read at both ends.
  std::optional<double> server_cpu_s;
  double server_window_s = 0;
  double server_cpu_ns_per_frame = 0;
  std::optional<TcpSockstat> sockstat;  // half-way through the window
};

// The servers' CPU seconds summed, or nullopt when one of them cannot be read (it is gone).
std::optional<double> servers_cpu_seconds(const std::vector<pid_t>& pids) {
  double sum = 0;
  for (const pid_t pid : pids) {
    const std::optional<double> seconds = process_cpu_seconds(pid);
    if (!seconds) return std::nullopt;
    sum += *seconds;
  }
  return sum;
}

std::uint64_t servers_rss_bytes(const std::vector<pid_t>& pids) {
  std::uint64_t sum = 0;
  for (const pid_t pid : pids) sum += process_rss_bytes(pid);
  return sum;
}

void write_plot(const SweepOptions& options, bool with_server) {
  const std::string& dir = options.out_dir;
  const std::string points = fmt::format("{}", fmt::join(options.connections, ","));
  const std::string title = plot_title(
      "sweep", options.run, points,
      options.run.open_loop() ? fmt::format("{:g}/s", options.run.rate) : std::string("-"));
  std::string gp =
      "set datafile separator ','\nset key autotitle columnhead\n"
      "set logscale x\nset grid\nset xlabel 'connections'\n";
  // Heights are compared: every y axis starts at zero.
  gp += with_server ? fmt::format("set multiplot layout 3,1 title '{}'\n", title)
                    : fmt::format("set title '{}'\n", title);
  gp +=
      "set ylabel 'frames/s'\nset y2label 'p99 latency (us)'\nset ytics nomirror\n"
      "set y2tics\nset yrange [0:*]\nset y2range [0:*]\n"
      "plot '" +
      dir +
      "/sweep.csv' using 1:3 with linespoints title 'throughput (frames/s)', "
      "'' using 1:6 axes x1y2 with linespoints title 'p99 (us)'\n";
  if (with_server) {
    // Memory per connection: the servers' RSS growth, and the kernel's TCP buffers (both ends).
    gp +=
        "unset y2label\nunset y2tics\nset ytics mirror\nset yrange [0:*]\n"
        "set ylabel 'bytes/connection'\n"
        "plot '" +
        dir +
        "/sweep.csv' using 1:11 with linespoints title 'server RSS bytes per connection', "
        "'' using 1:($22/$2) with linespoints title 'kernel TCP memory per connection'\n"
        "set ylabel 'server CPU ns/frame'\n"
        "plot '' using 1:17 with linespoints title 'server CPU per frame (ns)'\n"
        "unset multiplot\n";
  }
  draw_png(dir, "sweep", gp);
}

}  // namespace

int run_sweep(const SweepOptions& options) {
  std::filesystem::create_directories(options.out_dir);
  const std::vector<pid_t>& pids = options.server_pids;
  const bool server = !pids.empty();
  const std::uint64_t rss_baseline = servers_rss_bytes(pids);
  const std::size_t sources = std::max<std::size_t>(1, options.run.sources.size());
  std::vector<Point> points;
  for (const std::size_t requested : options.connections) {
    Point point;
    point.requested = requested;
    LoadOptions run = options.run;
    // Each child process has its own descriptor limit; the ephemeral ports are shared.
    point.processes = std::min(run.processes, requested);
    const std::size_t threads = std::min(run.threads, requested);
    const std::size_t child_threads =
        std::max<std::size_t>(1, (threads + point.processes - 1) / point.processes);
    const std::size_t fd_cap = max_connections_for_fd_limit(child_threads) * point.processes;
    const std::size_t port_cap = ephemeral_ports() * sources;
    point.ran = std::min({requested, fd_cap, port_cap});
    if (point.ran < requested) {
      point.note = fmt::format("cut from {} to {} by the {}", requested, point.ran,
                               point.ran == fd_cap ? "open-file limit (add --processes)"
                                                   : "ephemeral ports (add --source)");
      fmt::print(stderr, "ringwire-load sweep: point {}\n", point.note);
    }
    run.connections = point.ran;
    run.processes = std::min(point.processes, point.ran);
    fmt::print(stderr, "ringwire-load sweep: {} connections{}\n", point.ran,
               run.processes > 1 ? fmt::format(" over {} processes", run.processes) : "");
    RunHooks hooks;
    std::optional<double> cpu_at_start;
    SteadyClock::time_point window_start;
    hooks.window_start = [&] {
      window_start = SteadyClock::now();
      cpu_at_start = servers_cpu_seconds(pids);
    };
    hooks.mid_window = [&] {
      point.sockstat = read_tcp_sockstat();
      if (server) point.server_rss = servers_rss_bytes(pids);
    };
    hooks.window_end = [&] {
      point.server_window_s =
          std::chrono::duration<double>(SteadyClock::now() - window_start).count();
      const std::optional<double> cpu_at_end = servers_cpu_seconds(pids);
      if (server && cpu_at_start && cpu_at_end) point.server_cpu_s = *cpu_at_end - *cpu_at_start;
    };
    try {
      point.result =
          run.processes > 1 ? run_load_processes(run, run.processes, hooks) : run_load(run, hooks);
      point.ok = true;
      const LoadResult& r = point.result;
      if (point.server_rss != 0 && r.connections_established > 0) {
        point.server_bytes_per_connection =
            (static_cast<double>(point.server_rss) - static_cast<double>(rss_baseline)) /
            static_cast<double>(r.connections_established);
      }
      // CPU per frame as rates (CPU seconds per second over frames per second), since with
      // --processes the servers' window is the children's common one, not each child's own.
      if (point.server_cpu_s && point.server_window_s > 0 && r.frames_per_s > 0) {
        point.server_cpu_ns_per_frame =
            *point.server_cpu_s / point.server_window_s / r.frames_per_s * 1e9;
      }
    } catch (const StartError& e) {
      point.note = e.what();
      fmt::print(stderr, "ringwire-load sweep: {} connections: {}\n", point.ran, e.what());
    }
    points.push_back(std::move(point));
  }

  // Table, CSV and JSON.
  fmt::print(
      "{:>11} {:>11} {:>12} {:>12} {:>9} {:>9} {:>9} {:>7} {:>9}{} {:>9} {:>7} {:>10}  note\n",
      "connections", "established", "frames/s", "MB/s", "p50", "p99", "p99.9", "errors", "client",
      server ? fmt::format(" {:>12} {:>12}", "srv B/conn", "srv ns/frame") : "", "tcp inuse",
      "tcp tw", "tcp mem MB");
  std::ofstream csv(options.out_dir + "/sweep.csv");
  csv << "connections,established,frames_per_s,bytes_per_s,p50_us,p99_us,p999_us,max_us,errors,"
         "client_saturated,server_bytes_per_connection,server_rss_bytes,requested,processes,"
         "server_cpu_s,server_window_s,server_cpu_ns_per_frame,tcp_inuse,tcp_orphan,tcp_tw,"
         "tcp_alloc,tcp_mem_bytes\n";
  nlohmann::json json_points = nlohmann::json::array();
  for (const Point& p : points) {
    if (!p.ok) {
      fmt::print("{:>11} {:>11} {:>12}  {}\n", p.ran, "-", "failed", p.note);
      json_points.push_back(
          {{"connections", p.ran}, {"requested", p.requested}, {"error", p.note}});
      continue;
    }
    const LoadResult& r = p.result;
    const Histogram& h = r.totals.latency;
    const TcpSockstat tcp = p.sockstat.value_or(TcpSockstat{});
    fmt::print(
        "{:>11} {:>11} {:>12.0f} {:>12.2f} {:>9} {:>9} {:>9} {:>7} {:>9}{} {:>9} {:>7} {:>10.1f}  "
        "{}\n",
        p.ran, r.connections_established, r.frames_per_s, r.bytes_per_s / 1e6,
        format_latency(h.value_at_percentile(50)), format_latency(h.value_at_percentile(99)),
        format_latency(h.value_at_percentile(99.9)), r.totals.error_total(),
        r.client_saturated ? "SATURATED" : "ok",
        server ? fmt::format(" {:>12.0f} {:>12}", p.server_bytes_per_connection,
                             p.server_cpu_s ? fmt::format("{:.0f}", p.server_cpu_ns_per_frame)
                                            : std::string("-"))
               : "",
        tcp.inuse, tcp.tw, static_cast<double>(tcp.mem_bytes) / 1e6, p.note);
    csv << fmt::format(
        "{},{},{:.1f},{:.1f},{:.3f},{:.3f},{:.3f},{:.3f},{},{},{:.0f},{},{},{},{:.2f},{:.3f},{:.0f}"
        ","
        "{},{},{},{},{}\n",
        p.ran, r.connections_established, r.frames_per_s, r.bytes_per_s,
        static_cast<double>(h.value_at_percentile(50)) / 1e3,
        static_cast<double>(h.value_at_percentile(99)) / 1e3,
        static_cast<double>(h.value_at_percentile(99.9)) / 1e3, static_cast<double>(h.max()) / 1e3,
        r.totals.error_total(), r.client_saturated ? 1 : 0, p.server_bytes_per_connection,
        p.server_rss, p.requested, r.options.processes, p.server_cpu_s.value_or(0),
        p.server_window_s, p.server_cpu_ns_per_frame, tcp.inuse, tcp.orphan, tcp.tw, tcp.alloc,
        tcp.mem_bytes);
    nlohmann::json j = to_json(r);
    j["requested"] = p.requested;
    if (!p.note.empty()) j["note"] = p.note;
    if (p.sockstat) {
      j["tcp_sockstat"] = {{"inuse", tcp.inuse},
                           {"orphan", tcp.orphan},
                           {"tw", tcp.tw},
                           {"alloc", tcp.alloc},
                           {"mem_bytes", tcp.mem_bytes}};
    }
    if (server) {
      j["server_rss_bytes"] = p.server_rss;
      j["server_bytes_per_connection"] = p.server_bytes_per_connection;
      if (p.server_cpu_s) {
        j["server_cpu"] = {{"seconds", *p.server_cpu_s},
                           {"window_s", p.server_window_s},
                           {"ns_per_frame", p.server_cpu_ns_per_frame}};
      }
    }
    json_points.push_back(std::move(j));
  }
  csv.close();
  nlohmann::json sweep = json_header();
  sweep.update({{"command_line", options.run.command_line},
                {"points", json_points},
                {"machine", machine_json()}});
  if (server) {
    sweep["server_pids"] = pids;
    sweep["server_rss_baseline_bytes"] = rss_baseline;
  }
  write_json_file(options.out_dir + "/sweep.json", sweep);
  write_plot(options, server);
  fmt::print("wrote {0}/sweep.json {0}/sweep.csv {0}/sweep.png\n", options.out_dir);
  for (const Point& p : points) {
    if (!p.ok || p.result.totals.error_total() > 0) return kExitRunErrors;
  }
  return kExitOk;
}

}  // namespace ringwire::load
