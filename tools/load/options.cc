#include "options.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "flag_bounds.h"
#include "ringwire/version.h"

namespace ringwire::load {
namespace {

constexpr double kMaxRate = 1e9;  // per second: far past what one generator sends

}  // namespace

std::string_view to_string(ServiceKind kind) {
  switch (kind) {
    case ServiceKind::kEcho:
      return "echo";
    case ServiceKind::kDiscard:
      return "discard";
    case ServiceKind::kSized:
      return "sized";
  }
  return "?";
}

std::string tool_version() { return std::string(build_info().version); }
std::string tool_commit() { return std::string(build_info().commit); }

std::optional<double> parse_duration(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double number = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(number) || number < 0) return std::nullopt;
  const std::string_view unit(end);
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"m", 60}, {"h", 3600}};
  for (const auto& [name, seconds] : kUnits) {
    if (unit == name) return number * seconds;
  }
  return std::nullopt;
}

namespace {

// A duration flag: "30s", "2m", "500ms" or seconds, from `least` to a year (in seconds).
CLI::Option* add_duration(CLI::App& app, const std::string& name, double& seconds,
                          const std::string& help, double least) {
  return app
      .add_option_function<std::string>(
          name,
          [&seconds, name, least](const std::string& text) {
            const std::optional<double> parsed = parse_duration(text);
            if (!parsed || *parsed < least || *parsed > cli::kMaxSeconds) {
              throw CLI::ValidationError(
                  name, fmt::format("{} is not a duration from {} to {} seconds (e.g. 30s, 2m, "
                                    "500ms, or seconds)",
                                    text, least, cli::kMaxSeconds));
            }
            seconds = *parsed;
          },
          help)
      ->option_text("DURATION")
      ->default_str(fmt::format("{}s", seconds));
}

}  // namespace

std::size_t LoadOptions::reply_frame_size() const {
  switch (service) {
    case ServiceKind::kEcho:
      return kFrameHeaderSize + size;
    case ServiceKind::kDiscard:
      return 0;
    case ServiceKind::kSized:
      return kFrameHeaderSize + reply_size;
  }
  return 0;
}

void add_run_options(CLI::App& app, LoadOptions& o) {
  app.add_option("--host", o.host, "Server address or name")->capture_default_str();
  app.add_option("--port", o.port, "Server port")
      ->transform(cli::integer_from(1, cli::kMaxPort))
      ->capture_default_str();
  app.add_option("--connections,-c", o.connections, "Connections in total")
      ->transform(cli::integer_from(1, kMaxConnections))
      ->capture_default_str();
  app.add_option("--threads,-t", o.threads, "Client threads, one event loop each")
      ->transform(cli::integer_from(1, cli::kMaxThreads))
      ->capture_default_str();
  app.add_option("--processes,-P", o.processes,
                 "Child processes sharing the connections, threads and rate (each with its own "
                 "descriptor limit); their results are merged exactly")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  app.add_option("--depth,-d", o.depth,
                 "Frames in flight per connection (open loop: the most in flight; frames due "
                 "beyond it wait in the client and their wait counts in the latency)")
      ->transform(cli::integer_from(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--size,-s", o.size,
                 "Request payload bytes (carries a 64-bit sequence number and the send time; "
                 "smaller frames carry what fits)")
      ->transform(cli::integer_from(0, cli::kMaxFrameLimit))
      ->capture_default_str();
  app.add_option_function<std::string>(
         "--service",
         [&o](const std::string& name) {
           o.service = name == "discard" ? ServiceKind::kDiscard
                       : name == "sized" ? ServiceKind::kSized
                                         : ServiceKind::kEcho;
         },
         "What the server does: echo|discard|sized")
      ->check(CLI::IsMember({"echo", "discard", "sized"}))
      ->default_str("echo");
  app.add_option("--reply-size", o.reply_size, "sized: reply payload bytes to ask for")
      ->transform(cli::integer_from(0, cli::kMaxFrameLimit))
      ->capture_default_str();
  add_duration(app, "--duration", o.duration_s, "Measured time (30s, 2m, 500ms; bare: seconds)",
               0.001);
  add_duration(app, "--warmup", o.warmup_s, "Load before measuring (as --duration; 0: none)", 0);
  app.add_option("--rate", o.rate,
                 "Open loop: frames/s in total on a fixed schedule per connection; latency is "
                 "measured from the scheduled send time (0: closed loop)")
      ->check(cli::number_from(0, kMaxRate, "a rate in frames/s"))
      ->capture_default_str();
  app.add_option("--connect-rate", o.connect_rate, "New connections/s in total (0: no limit)")
      ->check(cli::number_from(0, kMaxRate, "a rate in connections/s"))
      ->capture_default_str();
  app.add_option("--source", o.sources,
                 "Local addresses to connect from, round-robin (e.g. 127.0.0.1,127.0.0.2): each "
                 "adds one source address's ephemeral ports")
      ->delimiter(',');
  app.add_option("--json", o.json_file, "Write the result as JSON to FILE ('-': standard output)")
      ->option_text("FILE");
  app.add_option("--hgrm", o.hgrm_file,
                 "Write the latency percentile distribution to FILE in HdrHistogram's .hgrm text "
                 "(values in microseconds; '-': standard output)")
      ->option_text("FILE");
  app.add_option("--hist-log", o.hist_log_file,
                 "Write HdrHistogram's interval log to FILE: one V2-compressed latency histogram "
                 "(ns) per second of the window, readable by HdrHistogram's tools and by "
                 "`ringwire-load merge`")
      ->option_text("FILE");
  app.add_flag("--verify,!--no-verify", o.verify,
               "Check every reply: length, sequence, content (on by default)");
  app.add_flag("--live,!--no-live", o.live,
               "A live line each second on stderr: rate, p50, p99, errors (on by default)");
  app.add_option("--max-frame", o.max_frame, "Largest reply length accepted")
      ->transform(cli::integer_from(1, cli::kMaxFrameLimit))
      ->capture_default_str();
  app.add_flag("--churn", o.churn,
               "Connection churn (closed loop): each connection connects, sends --churn-frames "
               "frames (at most --depth in flight), checks the replies, closes and connects again; "
               "reports connections/s, connect latency and time to first reply");
  app.add_option("--churn-frames", o.churn_frames, "Frames per connection in --churn")
      ->check(CLI::Range(1u, 1u << 30))
      ->capture_default_str();
  app.add_flag("--churn-rst", o.churn_rst,
               "--churn: close with a reset (SO_LINGER 0), so no TIME_WAIT holds a port");
  app.add_flag("--reconnect", o.reconnect,
               "A graceful close by the server during the run (a drain, a rolling restart) is not "
               "an error: connect again and re-send the frames not yet answered, their latency "
               "still counted from the first send; a reset stays an error");
}

void validate(const LoadOptions& o) {
  auto fail = [](std::string line) { throw std::invalid_argument(std::move(line)); };
  if ((o.json_file == "-") + (o.hgrm_file == "-") + (o.hist_log_file == "-") > 1)
    fail("only one of --json, --hgrm and --hist-log can write standard output ('-')");
  if (o.churn && o.open_loop()) fail("--churn runs closed loop: drop --rate");
  if (o.churn && !o.expects_replies()) fail("--churn needs replies: not with --service discard");
  if (o.churn && o.reconnect) fail("--churn closes every connection itself: drop --reconnect");
  if (o.size > o.max_frame)
    fail(fmt::format("--size {} exceeds --max-frame {}", o.size, o.max_frame));
  if (o.service == ServiceKind::kSized && o.size < 4) {
    fail("--service sized needs --size of at least 4 (the request carries the reply size)");
  }
  if (o.service == ServiceKind::kSized && o.reply_size > o.max_frame) {
    fail(fmt::format("--reply-size {} exceeds --max-frame {}", o.reply_size, o.max_frame));
  }
}

}  // namespace ringwire::load
