#include "options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "descriptor_budget.h"
#include "engines/engine.h"
#include "flag_bounds.h"
#include "ringwire/poller.h"
#include "ringwire/version.h"
#include "services/services.h"

namespace ringwire {
namespace {

// --max-connections: past any descriptor limit, but a number, not 2^64 - 1.
constexpr std::int64_t kMaxConnectionsLimit = 4'294'967'295;

// --balance's spellings: the flag is parsed into the enum here and nowhere else.
const std::map<std::string, Balance> kBalanceNames = {
    {"kernel", Balance::kKernel},
    {"exact", Balance::kExact},
};

}  // namespace

std::optional<ServerConfig> parse_server_options(int argc, char** argv, int& exit_code) {
  ServerConfig config;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string balance = "kernel";
  CLI::App app{"ringwire-server: a framed TCP service (4-byte big-endian length, then payload)",
               "ringwire-server"};
  app.add_option("--bind", config.bind, "Address to listen on (0.0.0.0 or :: to expose)")
      ->capture_default_str();
  app.add_option("--port", config.port, "TCP port; 0 picks a free one (the ready line says which)")
      ->transform(cli::integer_from(0, cli::kMaxPort))
      ->capture_default_str();
  app.add_option("--threads", config.threads, "Event loops, one thread each (0: one per core)")
      ->transform(cli::integer_from(0, cli::kMaxThreads))
      ->capture_default_str();
  app.add_option("--service", config.service, "What each frame gets back")
      ->check(CLI::IsMember(service_names()))
      ->capture_default_str();
  app.add_option("--engine", config.engine, "native: ringwire's reactor; uv: libuv loops")
      ->check(CLI::Validator(
          [](const std::string& name) -> std::string {
            const std::vector<std::string> names = engine_names();
            if (std::ranges::find(names, name) != names.end()) return {};
            if (name == "uv") return "uv: this build has no libuv engine (RINGWIRE_WITH_UV=OFF)";
            return fmt::format("{} not in {{{}}}", name, fmt::join(names, ","));
          },
          fmt::format("{{{}}}", fmt::join(engine_names(), ","))))
      ->capture_default_str();
  CLI::Option* backend =
      app.add_option("--backend", config.backend,
                     "Poller of the native engine (default: epoll on Linux, kqueue on BSD and "
                     "macOS; io_uring measures ahead of epoll on small frames, "
                     "many connections and accept churn but behind on large "
                     "frames and on one connection's latency: bench/RESULTS.md)"
#if RINGWIRE_KQUEUE_DOUBLE
                     "; kqueue here is the Linux test double, not real kqueue"
#endif
                     )
          ->check(CLI::IsMember(available_backends()));
  app.add_option("--max-frame", config.max_frame, "Largest payload accepted, in bytes")
      ->transform(cli::integer_from(1, cli::kMaxFrameLimit))
      ->capture_default_str();
  app.add_option("--max-connections", config.max_connections,
                 "Close new connections beyond this many open ones (0: no limit)")
      ->transform(cli::integer_from(0, kMaxConnectionsLimit))
      ->capture_default_str();
  app.add_option("--idle-timeout", config.idle_timeout_s,
                 "Close a connection that completes no frame for this many seconds (0: never)")
      ->check(cli::seconds_from(0, cli::kMaxSeconds))
      ->capture_default_str();
  app.add_option("--drain-timeout", config.drain_timeout_s,
                 "On SIGINT/SIGTERM, seconds to let open connections finish")
      ->check(cli::seconds_from(0, cli::kMaxSeconds))
      ->capture_default_str();
  app.add_option(
         "--metrics-port", config.metrics_port,
         "Serve Prometheus text on GET /metrics and health on /healthz at this port (default: "
         "off; 0 "
         "picks a free port, logged)")
      ->transform(cli::integer_from(0, cli::kMaxPort));
  app.add_option("--metrics-bind", config.metrics_bind,
                 "Address of the metrics endpoint (default: --bind's), e.g. 127.0.0.1 to keep "
                 "metrics local while serving on 0.0.0.0");
  app.add_option("--balance", balance,
                 "kernel: each loop listens (SO_REUSEPORT hash); exact: one listener hands each "
                 "connection to the loop with the fewest")
      ->check(CLI::IsMember(kBalanceNames))
      ->capture_default_str();
  app.add_flag("--reuse-port", config.reuse_port,
               "Share the port with other ringwire-server processes of this user (SO_REUSEPORT "
               "group): several processes on one port, rolling restarts");
  app.add_option(
         "--handover", config.handover,
         "Unix socket PATH: take the listening sockets of the ringwire-server offering them "
         "there (restart: start the new one, then SIGTERM the old; nothing is reset), "
         "then offer ours there to the next")
      ->capture_default_str();
  app.add_flag("--pin-cpus", config.pin_cpus, "Pin loop i to the i-th allowed CPU");
  app.add_option("--log-level", log_level, "debug, info, warn, error or off")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", log_format,
                 "text: one line per event; json: one JSON object per line (time, level, loop, "
                 "message)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.set_version_flag(
      "--version",
      version_line("ringwire-server", fmt::format("engines: {}", fmt::join(engine_names(), " "))));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", app.help());
    exit_code = 0;
    return std::nullopt;
  } catch (const CLI::CallForVersion& version) {
    fmt::print("{}\n", version.what());
    exit_code = 0;
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    fmt::print(stderr, "ringwire-server: {}\n", error.what());
    exit_code = 2;
    return std::nullopt;
  }
  if (backend->count() > 0 && config.engine != "native") {
    // Silently running libuv when a poller was asked for would make a benchmark lie.
    fmt::print(stderr,
               "ringwire-server: --backend chooses the native engine's poller; --engine {} "
               "polls with its own library\n",
               config.engine);
    exit_code = 2;
    return std::nullopt;
  }
  config.balance = kBalanceNames.at(balance);  // a member: checked above
  parse_log_level(log_level, config.log_level);
  parse_log_format(log_format, config.log_format);
  if (const std::string problem = resource_problem(config); !problem.empty()) {
    fmt::print(stderr, "ringwire-server: cannot start: {}\n", problem);
    exit_code = 1;
    return std::nullopt;
  }
  return config;
}

}  // namespace ringwire
