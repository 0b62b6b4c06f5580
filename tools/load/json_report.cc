#include "json_report.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "preflight.h"
#include "report.h"

namespace ringwire::load {

namespace {

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return {};
}

nlohmann::json options_json(const LoadOptions& o) {
  return {{"host", o.host},
          {"port", o.port},
          {"connections", o.connections},
          {"threads", o.threads},
          {"processes", o.processes},
          {"depth", o.depth},
          {"size", o.size},
          {"service", std::string(to_string(o.service))},
          {"reply_size", o.reply_size},
          {"duration", o.duration_s},
          {"warmup", o.warmup_s},
          {"rate", o.rate},
          {"connect_rate", o.connect_rate},
          {"source", o.sources},
          {"verify", o.verify},
          {"max_frame", o.max_frame},
          {"churn", o.churn},
          {"churn_frames", o.churn_frames},
          {"churn_rst", o.churn_rst},
          {"reconnect", o.reconnect},
          {"mode", o.open_loop() ? "open" : "closed"}};
}

}  // namespace

nlohmann::json histogram_json(const Histogram& h) {
  return {{"count", h.count()},
          {"min", us(h.min())},
          {"mean", h.mean() / 1e3},
          {"p50", us(h.value_at_percentile(50))},
          {"p90", us(h.value_at_percentile(90))},
          {"p99", us(h.value_at_percentile(99))},
          {"p999", us(h.value_at_percentile(99.9))},
          {"p9999", us(h.value_at_percentile(99.99))},
          {"max", us(h.max())},
          {"encoded", h.encode_base64()}};
}

nlohmann::json machine_json() {
  utsname name{};
  ::uname(&name);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  std::size_t low = 0, high = 0;
  ephemeral_ports(&low, &high);
  return {{"hostname", host},
          {"kernel", std::string(name.sysname) + " " + name.release},
          {"kernel_version", name.version},
          {"arch", name.machine},
          {"cpu_model", cpu_model()},
          {"online_cpus", std::thread::hardware_concurrency()},
          {"open_file_limit", files.rlim_cur},
          {"ip_local_port_range", {low, high}},
          {"somaxconn", read_first_line("/proc/sys/net/core/somaxconn")},
          {"tcp_congestion_control", read_first_line("/proc/sys/net/ipv4/tcp_congestion_control")}};
}

std::string rfc3339(double epoch_s) {
  const auto whole = static_cast<std::time_t>(std::floor(epoch_s));
  const auto ms = static_cast<int>(std::floor((epoch_s - static_cast<double>(whole)) * 1e3));
  std::tm utc{};
  ::gmtime_r(&whole, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03d}Z", text, ms);
}

nlohmann::json json_header() {
  return {{"schema_version", kJsonSchemaVersion},
          {"tool",
           {{"name", "ringwire-load"}, {"version", tool_version()}, {"commit", tool_commit()}}}};
}

nlohmann::json to_json(const LoadResult& r) {
  const ThreadStats& t = r.totals;
  nlohmann::json errors_by_kind = nlohmann::json::object();
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    errors_by_kind[std::string(to_string(static_cast<ErrorKind>(i)))] = t.errors[i];
  }
  auto by_errno = [](const std::map<int, std::uint64_t>& counts) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [error, n] : counts) {
      const char* name = strerrorname_np(error);
      j[name != nullptr ? name : std::to_string(error)] = n;
    }
    return j;
  };
  nlohmann::json series = nlohmann::json::array();
  std::uint64_t errors_before = 0;
  for (const LiveLine& line : r.series) {
    series.push_back({{"t", line.elapsed_s},
                      {"warmup", line.warmup},
                      {"rate", line.frames_per_s},
                      {"p50_us", us(line.p50_ns)},
                      {"p99_us", us(line.p99_ns)},
                      {"errors", line.errors - std::min(errors_before, line.errors)},
                      {"connections", line.connections}});
    errors_before = line.errors;
  }
  nlohmann::json j = json_header();
  j.update({
      {"started_at", rfc3339(r.started_epoch_s)},
      {"ended_at", rfc3339(r.ended_epoch_s)},
      {"command_line", r.options.command_line},
      {"series", std::move(series)},
      {"frames_per_s", r.frames_per_s},
      {"bytes_per_s", r.bytes_per_s},
      {"latency_us", histogram_json(t.latency)},
      {"errors", t.error_total()},
      {"connections", r.connections_established},
      {"client_saturated", r.client_saturated},
      {"latency_basis", r.options.open_loop() ? "scheduled send" : "actual send"},
      {"latency_from_send_us", histogram_json(t.latency_from_send)},
      {"send_lateness_us", histogram_json(t.send_lateness)},
      {"schedule_lag_us", histogram_json(t.schedule_lag)},
      {"connect_latency_us", histogram_json(t.connect_latency)},
      {"errors_by_kind", errors_by_kind},
      {"connect_errors", by_errno(t.connect_errors)},
      {"socket_errors", by_errno(t.socket_errors)},
      {"server", r.server},
      {"window_s", r.window_s},
      {"frames_completed", t.frames_completed},
      {"frames_sent", t.frames_sent},
      {"bytes_sent", t.bytes_sent},
      {"bytes_received", t.bytes_received},
      {"connections_requested", r.options.connections},
      {"thread_connections", r.thread_connections},
      {"fairness",
       {{"min_frames", r.fairness.min_frames},
        {"median_frames", r.fairness.median_frames},
        {"max_frames", r.fairness.max_frames},
        {"cv", r.fairness.cv},
        {"stalled", r.fairness.stalled},
        {"max_gap_us", static_cast<double>(r.fairness.max_gap_ns) / 1e3}}},
      {"client_cpu",
       {{"seconds", r.cpu_s},
        {"user_seconds", r.totals.cpu_user_s},
        {"system_seconds", r.totals.cpu_system_s},
        {"ns_per_frame", r.cpu_ns_per_frame},
        {"thread_fraction", r.thread_cpu_fraction}}},
      {"warnings", r.warnings},
      {"churn",
       {{"enabled", r.options.churn},
        {"connections_per_s", r.connections_per_s},
        {"connections", t.churn_cycles},
        {"frames_per_connection", r.options.churn_frames},
        {"rst", r.options.churn_rst}}},
      {"first_reply_us", histogram_json(t.first_reply)},
      {"reconnects", {{"graceful_closes", t.reconnects}, {"frames_resent", t.frames_resent}}},
      {"options", options_json(r.options)},
      {"machine", machine_json()},
  });
  if (!r.process_json.empty()) {
    nlohmann::json children = nlohmann::json::array();
    for (const std::string& text : r.process_json) children.push_back(nlohmann::json::parse(text));
    j["processes"] = std::move(children);
  }
  return j;
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  if (path == kStdoutPath) {
    std::cout << value.dump(2) << '\n' << std::flush;
    if (!std::cout)
      throw std::runtime_error(std::string("cannot write standard output: ") +
                               std::strerror(errno));
    return;
  }
  std::ofstream out(path);
  out << value.dump(2) << '\n';
  if (!out) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace ringwire::load
