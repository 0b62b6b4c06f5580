#include "merge.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

#include "json_report.h"
#include "report.h"

namespace ringwire::load {

namespace {

// errno values are small (Linux defines < 140); names are looked up below this bound.
constexpr int kErrnoSearchLimit = 256;

std::uint64_t ns(double us) { return static_cast<std::uint64_t>(std::llround(us * 1e3)); }

// The histogram under `key` ("latency_us"...), decoded exactly; empty when the key is absent and
// not `required`.
Histogram histogram_at(const nlohmann::json& j, const char* key, bool required) {
  if (!j.contains(key)) {
    if (required) throw std::runtime_error(fmt::format("no \"{}\"", key));
    return {};
  }
  const nlohmann::json& h = j.at(key);
  if (!h.contains("encoded")) {
    throw std::runtime_error(fmt::format(
        "\"{}\" has no \"encoded\" histogram (written by an older ringwire-load?)", key));
  }
  std::optional<Histogram> decoded = Histogram::decode_base64(h.at("encoded").get<std::string>());
  if (!decoded) throw std::runtime_error(fmt::format("\"{}.encoded\" is not a histogram", key));
  return std::move(*decoded);
}

int errno_from_name(const std::string& name) {
  for (int e = 1; e < kErrnoSearchLimit; ++e) {
    const char* known = strerrorname_np(e);
    if (known != nullptr && name == known) return e;
  }
  return std::atoi(name.c_str());  // to_json writes the number when the name is unknown
}

// Adds the {"ENAME": count} object under `key` (absent: nothing) to `into`.
void read_errno_counts(const nlohmann::json& j, const char* key,
                       std::map<int, std::uint64_t>& into) {
  if (!j.contains(key)) return;
  for (const auto& item : j.at(key).items()) {
    into[errno_from_name(item.key())] += item.value().get<std::uint64_t>();
  }
}

LoadOptions options_from_json(const nlohmann::json& o) {
  LoadOptions options;
  options.host = o.value("host", options.host);
  options.port = o.value("port", options.port);
  options.connections = o.value("connections", options.connections);
  options.threads = o.value("threads", options.threads);
  options.processes = o.value("processes", options.processes);
  options.depth = o.value("depth", options.depth);
  options.size = o.value("size", options.size);
  const std::string service = o.value("service", std::string(to_string(options.service)));
  for (ServiceKind kind : {ServiceKind::kEcho, ServiceKind::kDiscard, ServiceKind::kSized}) {
    if (service == to_string(kind)) options.service = kind;
  }
  options.reply_size = o.value("reply_size", options.reply_size);
  options.duration_s = o.value("duration", options.duration_s);
  options.warmup_s = o.value("warmup", options.warmup_s);
  options.rate = o.value("rate", options.rate);
  options.connect_rate = o.value("connect_rate", options.connect_rate);
  options.sources = o.value("source", options.sources);
  options.verify = o.value("verify", options.verify);
  options.max_frame = o.value("max_frame", options.max_frame);
  options.churn = o.value("churn", options.churn);
  options.churn_frames = o.value("churn_frames", options.churn_frames);
  options.churn_rst = o.value("churn_rst", options.churn_rst);
  options.reconnect = o.value("reconnect", options.reconnect);
  return options;
}

// Adds `run` into `into` (fairness apart: see merge_results).
void add_run(LoadResult& into, const LoadResult& run) {
  into.options.connections += run.options.connections;
  into.options.threads += run.options.threads;
  if (into.server.find(run.server) == std::string::npos) into.server += ", " + run.server;
  into.window_s = std::max(into.window_s, run.window_s);
  if (run.started_epoch_s > 0) {
    into.started_epoch_s = into.started_epoch_s > 0
                               ? std::min(into.started_epoch_s, run.started_epoch_s)
                               : run.started_epoch_s;
  }
  into.ended_epoch_s = std::max(into.ended_epoch_s, run.ended_epoch_s);
  into.totals.merge(run.totals);
  into.connections_established += run.connections_established;
  into.frames_per_s += run.frames_per_s;
  into.connections_per_s += run.connections_per_s;
  into.bytes_per_s += run.bytes_per_s;
  into.thread_cpu_fraction.insert(into.thread_cpu_fraction.end(), run.thread_cpu_fraction.begin(),
                                  run.thread_cpu_fraction.end());
  into.thread_connections.insert(into.thread_connections.end(), run.thread_connections.begin(),
                                 run.thread_connections.end());
  into.cpu_s += run.cpu_s;
  into.client_saturated = into.client_saturated || run.client_saturated;
}

// Fairness over every connection of every run, from each run's summary: min, max, stalled and
// the longest gap are exact, and so is the cv (pooled from each run's mean and variance); the
// median of the medians stands in for the median (the per-connection counts are not written).
Fairness merged_fairness(const std::vector<LoadResult>& runs) {
  Fairness f;
  double connections = 0, frames = 0, sum_of_squares = 0;
  std::vector<std::uint64_t> medians;
  for (const LoadResult& run : runs) {
    const double n = static_cast<double>(run.connections_established);
    if (n == 0) continue;
    const Fairness& r = run.fairness;
    f.min_frames = medians.empty() ? r.min_frames : std::min(f.min_frames, r.min_frames);
    f.max_frames = std::max(f.max_frames, r.max_frames);
    f.stalled += r.stalled;
    f.max_gap_ns = std::max(f.max_gap_ns, r.max_gap_ns);
    medians.push_back(r.median_frames);
    const double mean = static_cast<double>(run.totals.frames_completed) / n;
    const double variance = (r.cv * mean) * (r.cv * mean);
    connections += n;
    frames += mean * n;
    sum_of_squares += (variance + mean * mean) * n;
  }
  if (medians.empty()) return f;
  std::sort(medians.begin(), medians.end());
  f.median_frames = medians[medians.size() / 2];
  const double mean = frames / connections;
  const double variance = std::max(0.0, sum_of_squares / connections - mean * mean);
  f.cv = mean > 0 ? std::sqrt(variance) / mean : 0;
  return f;
}

// Seconds since the epoch from rfc3339()'s text; 0 when absent or not that form.
double parse_rfc3339(const std::string& text) {
  std::tm utc{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &utc);
  if (rest == nullptr) return 0;
  const double fraction = *rest == '.' ? std::strtod(rest, nullptr) : 0;
  return static_cast<double>(::timegm(&utc)) + fraction;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not JSON: " + e.what());
  }
}

}  // namespace

LoadResult result_from_hist_log(const std::vector<HistLogInterval>& intervals) {
  LoadResult r;
  r.options.connections = 0;
  r.options.threads = 0;
  r.options.warmup_s = 0;
  r.server = "interval log";
  double first = 0, last = 0;
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    const HistLogInterval& interval = intervals[i];
    first = i == 0 ? interval.start_s : std::min(first, interval.start_s);
    last = std::max(last, interval.start_s + interval.length_s);
    r.totals.latency.merge(interval.histogram);
  }
  r.window_s = std::max(0.0, last - first);
  r.totals.frames_completed = r.totals.latency.count();
  r.frames_per_s = r.window_s > 0 ? static_cast<double>(r.totals.frames_completed) / r.window_s : 0;
  r.options.duration_s = r.window_s;
  return r;
}

LoadResult result_from_json(const nlohmann::json& j) {
  LoadResult r;
  try {
    r.options = options_from_json(j.value("options", nlohmann::json::object()));
    r.server = j.value("server", std::string());
    r.window_s = j.value("window_s", 0.0);
    r.started_epoch_s = parse_rfc3339(j.value("started_at", std::string()));
    r.ended_epoch_s = parse_rfc3339(j.value("ended_at", std::string()));
    ThreadStats& t = r.totals;
    t.latency = histogram_at(j, "latency_us", true);
    t.latency_from_send = histogram_at(j, "latency_from_send_us", false);
    t.send_lateness = histogram_at(j, "send_lateness_us", false);
    t.schedule_lag = histogram_at(j, "schedule_lag_us", false);
    t.connect_latency = histogram_at(j, "connect_latency_us", false);
    t.frames_completed = j.value("frames_completed", std::uint64_t{0});
    t.frames_sent = j.value("frames_sent", std::uint64_t{0});
    t.bytes_sent = j.value("bytes_sent", std::uint64_t{0});
    t.bytes_received = j.value("bytes_received", std::uint64_t{0});
    const nlohmann::json by_kind = j.value("errors_by_kind", nlohmann::json::object());
    for (std::size_t i = 0; i < kErrorKindCount; ++i) {
      t.errors[i] = by_kind.value(std::string(to_string(static_cast<ErrorKind>(i))), 0ull);
    }
    read_errno_counts(j, "connect_errors", t.connect_errors);
    read_errno_counts(j, "socket_errors", t.socket_errors);
    t.first_reply = histogram_at(j, "first_reply_us", false);
    const nlohmann::json churn = j.value("churn", nlohmann::json::object());
    t.churn_cycles = churn.value("connections", std::uint64_t{0});
    r.connections_per_s = churn.value("connections_per_s", 0.0);
    const nlohmann::json reconnects = j.value("reconnects", nlohmann::json::object());
    t.reconnects = reconnects.value("graceful_closes", std::uint64_t{0});
    t.frames_resent = reconnects.value("frames_resent", std::uint64_t{0});
    const nlohmann::json cpu = j.value("client_cpu", nlohmann::json::object());
    t.cpu_user_s = cpu.value("user_seconds", 0.0);
    t.cpu_system_s = cpu.value("system_seconds", 0.0);
    r.cpu_s = cpu.value("seconds", 0.0);
    r.cpu_ns_per_frame = cpu.value("ns_per_frame", 0.0);
    r.thread_cpu_fraction = cpu.value("thread_fraction", std::vector<double>{});
    r.connections_established = j.at("connections").get<std::size_t>();
    t.connections_established = r.connections_established;
    r.frames_per_s = j.at("frames_per_s").get<double>();
    r.bytes_per_s = j.at("bytes_per_s").get<double>();
    r.client_saturated = j.value("client_saturated", false);
    r.warnings = j.value("warnings", std::vector<std::string>{});
    r.thread_connections = j.value("thread_connections", std::vector<std::uint64_t>{});
    const nlohmann::json fairness = j.value("fairness", nlohmann::json::object());
    r.fairness.min_frames = fairness.value("min_frames", std::uint64_t{0});
    r.fairness.median_frames = fairness.value("median_frames", std::uint64_t{0});
    r.fairness.max_frames = fairness.value("max_frames", std::uint64_t{0});
    r.fairness.cv = fairness.value("cv", 0.0);
    r.fairness.stalled = fairness.value("stalled", std::size_t{0});
    r.fairness.max_gap_ns = static_cast<std::int64_t>(ns(fairness.value("max_gap_us", 0.0)));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("not a ringwire-load result: ") + e.what());
  }
  return r;
}

LoadResult merge_results(const std::vector<LoadResult>& runs) {
  if (runs.empty()) throw std::invalid_argument("merge: no runs");
  LoadResult merged = runs.front();
  merged.warnings.clear();
  for (std::size_t i = 1; i < runs.size(); ++i) add_run(merged, runs[i]);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    for (const auto& warning : runs[i].warnings) {
      merged.warnings.push_back(fmt::format("run {}: {}", i + 1, warning));
    }
  }
  const std::uint64_t frames = merged.totals.frames_completed;
  merged.cpu_ns_per_frame = frames > 0 ? merged.cpu_s * 1e9 / static_cast<double>(frames) : 0;
  merged.fairness = merged_fairness(runs);
  return merged;
}

int run_merge(const MergeOptions& options) {
  std::vector<LoadResult> runs;
  nlohmann::json machines = nlohmann::json::array();
  for (const std::string& file : options.files) {
    if (is_hist_log(file)) {
      runs.push_back(result_from_hist_log(read_hist_log(file)));
      machines.push_back(nlohmann::json::object());
      continue;
    }
    const nlohmann::json j = read_json_file(file);
    try {
      runs.push_back(result_from_json(j));
    } catch (const std::exception& e) {
      throw std::runtime_error(file + ": " + e.what());
    }
    machines.push_back(j.value("machine", nlohmann::json::object()));
  }
  const LoadResult merged = merge_results(runs);
  // `--json -` puts the JSON on stdout, so the human report moves to stderr.
  std::FILE* report_out = options.json_file == kStdoutPath ? stderr : stdout;
  fmt::print(report_out, "{}", format_report(merged));
  fmt::print(report_out, "  merged from {} run(s): {}\n", runs.size(),
             fmt::join(options.files, " "));
  std::fflush(report_out);
  if (!options.json_file.empty()) {
    nlohmann::json j = to_json(merged);
    j["machine"] = std::move(machines);  // one per run, in the order given
    j["merged_from"] = options.files;
    write_json_file(options.json_file, j);
  }
  return merged.totals.error_total() == 0 ? kExitOk : kExitRunErrors;
}

}  // namespace ringwire::load
