// ringwire-server: parse the command line, start an engine, serve, and drain on SIGINT/SIGTERM.

#include <fmt/format.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "engines/engine.h"
#include "metrics_endpoint.h"
#include "options.h"
#include "ringwire/event_loop.h"
#include "ringwire/log.h"
#include "signals.h"
#include "version.h"

using namespace ringwire;

namespace {

// One line with every counter of the table and every close reason, each as "{value} {words}".
void report_totals(const StatsSnapshot& stats) {
  std::string line = "stopped:";
  for (std::size_t row = 0; row < kCounterCount; ++row) {
    line += fmt::format(" {} {},", stats.values[row], kCounters[row].summary);
  }
  for (std::size_t reason = 0; reason < kCloseReasonCount; ++reason) {
    line += fmt::format(" {} {},", stats.closed[reason], summary(static_cast<CloseReason>(reason)));
  }
  line.pop_back();  // the last comma
  log(LogLevel::kInfo, "{}", line);
}

std::vector<StatsSnapshot> per_loop_stats(const Engine& engine) {
  std::vector<StatsSnapshot> stats;
  for (std::size_t i = 0; i < engine.loops(); ++i) stats.push_back(engine.loop_stats(i));
  return stats;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const auto config = parse_server_options(argc, argv, exit_code);
  if (!config) return exit_code;
  set_log_level(config->log_level);
  set_log_format(config->log_format);
  // Before any thread exists, so every thread inherits the mask and only the signalfd sees them.
  block_shutdown_signals();

  // The main thread runs a small control loop: signals in, drain out, metrics served.
  EventLoop control;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<MetricsEndpoint> metrics;
  const std::string& metrics_bind =
      config->metrics_bind.empty() ? config->bind : config->metrics_bind;
  try {
    engine = make_engine(*config);
    engine->start();
    if (config->metrics_port) {
      metrics = std::make_unique<MetricsEndpoint>(
          control, resolve_address(metrics_bind, *config->metrics_port),
          BuildInfo{RINGWIRE_SERVER_VERSION, RINGWIRE_SERVER_COMMIT, config->engine,
                    engine->backend()},
          [&engine] { return per_loop_stats(*engine); });
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "ringwire-server: cannot start: %s\n", error.what());
    return 1;
  }

  fmt::print("listening on {} (loops={} engine={} backend={} service={})\n",
             resolve_address(config->bind, engine->port()).to_string(), engine->loops(),
             config->engine, engine->backend(), config->service);
  std::fflush(stdout);
  if (metrics) {
    log(LogLevel::kInfo, "metrics on http://{}/metrics",
        resolve_address(metrics_bind, metrics->port()).to_string());
  }

  bool draining = false;
  SignalWatcher signals(control, [&](int signal) {
    if (draining) {
      log(LogLevel::kWarn, "second {}: exiting at once", ::strsignal(signal));
      std::_Exit(128 + signal);
    }
    draining = true;
    if (metrics) metrics->set_draining();
    log(LogLevel::kInfo, "{}: draining (stopped accepting; up to {} s for open connections)",
        ::strsignal(signal), config->drain_timeout_s);
    engine->drain(std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(config->drain_timeout_s)),
                  [&control] { control.stop(); });
  });
  control.run();
  engine->stop();
  report_totals(engine->stats());
  return 0;
}
