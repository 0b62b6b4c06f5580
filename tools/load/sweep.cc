#include "sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "json_report.h"
#include "load.h"
#include "plot.h"
#include "preflight.h"
#include "report.h"

namespace ringwire::load {

namespace {

struct Point {
  std::size_t requested = 0;
  std::size_t ran = 0;
  std::string note;  // why the point was cut or failed
  bool ok = false;
  LoadResult result;
  std::uint64_t server_rss = 0;
  double server_bytes_per_connection = 0;
};

void write_plot(const SweepOptions& options, bool with_rss) {
  const std::string& dir = options.out_dir;
  const std::string points = fmt::format("{}", fmt::join(options.connections, ","));
  const std::string title = plot_title(
      "sweep", options.run, points,
      options.run.open_loop() ? fmt::format("{:g}/s", options.run.rate) : std::string("-"));
  std::string gp =
      "set datafile separator ','\nset key autotitle columnhead\n"
      "set logscale x\nset grid\nset xlabel 'connections'\n";
  // Heights are compared: both y axes start at zero.
  gp += with_rss ? fmt::format("set multiplot layout 2,1 title '{}'\n", title)
                 : fmt::format("set title '{}'\n", title);
  gp +=
      "set ylabel 'frames/s'\nset y2label 'p99 latency (us)'\nset ytics nomirror\n"
      "set y2tics\nset yrange [0:*]\nset y2range [0:*]\n"
      "plot '" +
      dir +
      "/sweep.csv' using 1:3 with linespoints title 'throughput (frames/s)', "
      "'' using 1:6 axes x1y2 with linespoints title 'p99 (us)'\n";
  if (with_rss) {
    gp +=
        "unset y2label\nunset y2tics\nset ytics mirror\nset yrange [0:*]\n"
        "set ylabel 'server bytes/connection'\n"
        "plot '" +
        dir +
        "/sweep.csv' using 1:11 with linespoints title "
        "'server RSS bytes per connection'\nunset multiplot\n";
  }
  draw_png(dir, "sweep", gp);
}

}  // namespace

std::uint64_t process_rss_bytes(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

int run_sweep(const SweepOptions& options) {
  std::filesystem::create_directories(options.out_dir);
  const std::uint64_t rss_baseline =
      options.server_pid != 0 ? process_rss_bytes(options.server_pid) : 0;
  const std::size_t sources = std::max<std::size_t>(1, options.run.sources.size());
  std::vector<Point> points;
  for (const std::size_t requested : options.connections) {
    Point point;
    point.requested = requested;
    LoadOptions run = options.run;
    const std::size_t threads = std::min(run.threads, requested);
    const std::size_t fd_cap = max_connections_for_fd_limit(threads);
    const std::size_t port_cap = ephemeral_ports() * sources;
    point.ran = std::min({requested, fd_cap, port_cap});
    if (point.ran < requested) {
      point.note = fmt::format("cut from {} to {} by the {}", requested, point.ran,
                               point.ran == fd_cap ? "open-file limit" : "ephemeral ports");
      fmt::print(stderr, "ringwire-load sweep: point {}\n", point.note);
    }
    run.connections = point.ran;
    fmt::print(stderr, "ringwire-load sweep: {} connections\n", point.ran);
    RunHooks hooks;
    if (options.server_pid != 0) {
      hooks.mid_window = [&] { point.server_rss = process_rss_bytes(options.server_pid); };
    }
    try {
      point.result = run_load(run, hooks);
      point.ok = true;
      if (point.server_rss != 0 && point.result.connections_established > 0) {
        point.server_bytes_per_connection =
            (static_cast<double>(point.server_rss) - static_cast<double>(rss_baseline)) /
            static_cast<double>(point.result.connections_established);
      }
    } catch (const StartError& e) {
      point.note = e.what();
      fmt::print(stderr, "ringwire-load sweep: {} connections: {}\n", point.ran, e.what());
    }
    points.push_back(std::move(point));
  }

  // Table, CSV and JSON.
  const bool rss = options.server_pid != 0;
  fmt::print("{:>11} {:>11} {:>12} {:>12} {:>9} {:>9} {:>9} {:>7} {:>8}{}  note\n", "connections",
             "established", "frames/s", "MB/s", "p50", "p99", "p99.9", "errors", "client",
             rss ? fmt::format(" {:>12}", "srv B/conn") : "");
  std::ofstream csv(options.out_dir + "/sweep.csv");
  csv << "connections,established,frames_per_s,bytes_per_s,p50_us,p99_us,p999_us,max_us,errors,"
         "client_saturated,server_bytes_per_connection,server_rss_bytes,requested\n";
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
    fmt::print("{:>11} {:>11} {:>12.0f} {:>12.2f} {:>9} {:>9} {:>9} {:>7} {:>8}{}  {}\n", p.ran,
               r.connections_established, r.frames_per_s, r.bytes_per_s / 1e6,
               format_latency(h.value_at_percentile(50)), format_latency(h.value_at_percentile(99)),
               format_latency(h.value_at_percentile(99.9)), r.totals.error_total(),
               r.client_saturated ? "SATURATED" : "ok",
               rss ? fmt::format(" {:>12.0f}", p.server_bytes_per_connection) : "", p.note);
    csv << fmt::format("{},{},{:.1f},{:.1f},{:.3f},{:.3f},{:.3f},{:.3f},{},{},{:.0f},{},{}\n",
                       p.ran, r.connections_established, r.frames_per_s, r.bytes_per_s,
                       static_cast<double>(h.value_at_percentile(50)) / 1e3,
                       static_cast<double>(h.value_at_percentile(99)) / 1e3,
                       static_cast<double>(h.value_at_percentile(99.9)) / 1e3,
                       static_cast<double>(h.max()) / 1e3, r.totals.error_total(),
                       r.client_saturated ? 1 : 0, p.server_bytes_per_connection, p.server_rss,
                       p.requested);
    nlohmann::json j = to_json(r);
    j["requested"] = p.requested;
    if (!p.note.empty()) j["note"] = p.note;
    if (rss) {
      j["server_rss_bytes"] = p.server_rss;
      j["server_bytes_per_connection"] = p.server_bytes_per_connection;
    }
    json_points.push_back(std::move(j));
  }
  csv.close();
  nlohmann::json sweep = json_header();
  sweep.update({{"command_line", options.run.command_line},
                {"points", json_points},
                {"machine", machine_json()}});
  if (rss) {
    sweep["server_pid"] = options.server_pid;
    sweep["server_rss_baseline_bytes"] = rss_baseline;
  }
  write_json_file(options.out_dir + "/sweep.json", sweep);
  write_plot(options, rss);
  fmt::print("wrote {0}/sweep.json {0}/sweep.csv {0}/sweep.png\n", options.out_dir);
  for (const Point& p : points) {
    if (!p.ok) return 1;
  }
  return 0;
}

}  // namespace ringwire::load
