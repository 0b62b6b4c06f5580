#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace ringwire::load {

namespace {

std::string si(double value) {
  if (value >= 1e9) return fmt::format("{:.2f}G", value / 1e9);
  if (value >= 1e6) return fmt::format("{:.2f}M", value / 1e6);
  if (value >= 1e3) return fmt::format("{:.2f}k", value / 1e3);
  return fmt::format("{:.0f}", value);
}

void percentile_row(std::string& out, const char* name, const Histogram& h) {
  if (h.count() == 0) return;
  out += fmt::format("  {:<26}", name);
  for (double p : kReportPercentiles)
    out += fmt::format(" {:>9}", format_latency(h.value_at_percentile(p)));
  out += fmt::format(" {:>9} {:>9}\n", format_latency(h.max()),
                     format_latency(static_cast<std::uint64_t>(h.mean())));
}

}  // namespace

std::string format_no_connection(const LoadResult& result) {
  const auto& errors = result.totals.connect_errors;
  const auto commonest =
      std::max_element(errors.begin(), errors.end(),
                       [](const auto& a, const auto& b) { return a.second < b.second; });
  if (commonest != errors.end()) {
    return fmt::format("connect {}: {}", result.server, std::strerror(commonest->first));
  }
  return fmt::format("connect {}: no connection established before the run was to start",
                     result.server);
}

std::string format_latency(std::uint64_t ns) {
  const auto v = static_cast<double>(ns);
  if (ns < 1'000) return fmt::format("{}ns", ns);
  if (ns < 1'000'000) return fmt::format("{:.{}f}us", v / 1e3, v < 1e4 ? 2 : v < 1e5 ? 1 : 0);
  if (ns < 1'000'000'000) return fmt::format("{:.{}f}ms", v / 1e6, v < 1e7 ? 2 : v < 1e8 ? 1 : 0);
  return fmt::format("{:.2f}s", v / 1e9);
}

std::string format_live_line(const LiveLine& line) {
  return fmt::format("[{:5.1f}s{}] rate {}/s  p50 {}  p99 {}  errors {}  connections {}",
                     line.elapsed_s, line.warmup ? " warmup" : "", si(line.frames_per_s),
                     format_latency(line.p50_ns), format_latency(line.p99_ns), line.errors,
                     line.connections);
}

std::string format_report(const LoadResult& r) {
  const LoadOptions& o = r.options;
  const ThreadStats& t = r.totals;
  std::string out;
  out += fmt::format(
      "ringwire-load: {} {} loop, {} connections ({} established) over {} threads, depth {}, "
      "{} B requests, service {}{}\n",
      r.server, o.open_loop() ? "open" : "closed", o.connections, r.connections_established,
      o.threads, o.depth, o.size, to_string(o.service),
      o.open_loop() ? fmt::format(", rate {}/s", si(o.rate)) : std::string());
  out += fmt::format("  window {:.1f} s after {:.1f} s warm-up\n", r.window_s, o.warmup_s);
  out += fmt::format("  throughput   {}/s frames   {}B/s (sent {}B/s, received {}B/s)\n",
                     si(r.frames_per_s), si(r.bytes_per_s),
                     si(static_cast<double>(t.bytes_sent) / std::max(r.window_s, 1e-9)),
                     si(static_cast<double>(t.bytes_received) / std::max(r.window_s, 1e-9)));
  if (o.churn) {
    out += fmt::format(
        "  churn        {}/s connections ({} in the window, {} frame(s) each, close "
        "with {})\n",
        si(r.connections_per_s), t.churn_cycles, o.churn_frames, o.churn_rst ? "RST" : "FIN");
  }
  out += fmt::format("  {:<26}", "latency");
  for (double p : kReportPercentiles) out += fmt::format(" {:>9}", fmt::format("p{}", p));
  out += fmt::format(" {:>9} {:>9}\n", "max", "mean");
  if (o.open_loop()) {
    percentile_row(out, "from scheduled send", t.latency);
    percentile_row(out, "from actual send", t.latency_from_send);
    percentile_row(out, "send lateness", t.send_lateness);
    percentile_row(out, "schedule lag (client)", t.schedule_lag);
  } else {
    percentile_row(out, "round trip", t.latency);
  }
  percentile_row(out, "connect", t.connect_latency);
  if (o.churn) percentile_row(out, "first reply (from connect)", t.first_reply);
  if (o.reconnect) {
    out += fmt::format(
        "  reconnects   {} graceful close(s) by the server, {} unanswered frame(s) re-sent\n",
        t.reconnects, t.frames_resent);
  }
  const std::uint64_t errors = t.error_total();
  out += fmt::format("  errors       {}", errors);
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    if (t.errors[i] != 0) {
      out += fmt::format("  {}={}", to_string(static_cast<ErrorKind>(i)), t.errors[i]);
    }
  }
  for (const auto& [error, n] : t.connect_errors) {
    out += fmt::format("  connect:{}={}", strerrorname_np(error) ? strerrorname_np(error) : "?", n);
  }
  for (const auto& [error, n] : t.socket_errors) {
    out += fmt::format("  socket:{}={}", strerrorname_np(error) ? strerrorname_np(error) : "?", n);
  }
  out += "\n";
  const Fairness& f = r.fairness;
  out += fmt::format(
      "  fairness     frames/connection min {} median {} max {} (cv {:.2f}), longest gap {}, "
      "stalled {}\n",
      f.min_frames, f.median_frames, f.max_frames, f.cv,
      format_latency(static_cast<std::uint64_t>(f.max_gap_ns)), f.stalled);
  out += fmt::format("  client cpu   {:.2f} s in the window, {:.0f} ns/frame, per thread:", r.cpu_s,
                     r.cpu_ns_per_frame);
  for (double fraction : r.thread_cpu_fraction) out += fmt::format(" {:.0f}%", fraction * 100);
  out += "\n";
  for (const auto& warning : r.warnings) out += fmt::format("  WARNING: {}\n", warning);
  if (r.client_saturated)
    out += "  client_saturated: true (the figures may show the client's limit)\n";
  return out;
}

}  // namespace ringwire::load
