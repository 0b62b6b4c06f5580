// ringwire-server: parse the command line, start an engine, serve, and drain on SIGINT/SIGTERM.

#include <fmt/format.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>

#include "engines/engine.h"
#include "listener_handover.h"
#include "metrics_endpoint.h"
#include "options.h"
#include "ringwire/event_loop.h"
#include "ringwire/log.h"
#include "ringwire/version.h"
#include "signals.h"
#include "systemd_notify.h"

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

// With --reuse-port, a drain closes listeners whose queued connections only survive if the kernel
// moves them to the rest of the group (net.ipv4.tcp_migrate_req, per network namespace).
void warn_unless_queued_connections_migrate() {
  std::FILE* file = std::fopen("/proc/sys/net/ipv4/tcp_migrate_req", "r");
  int value = 0;
  const bool known = file != nullptr && std::fscanf(file, "%d", &value) == 1;
  if (file != nullptr) std::fclose(file);
  if (known && value == 1) return;
  log(LogLevel::kWarn,
      "net.ipv4.tcp_migrate_req is {}: when this process drains, connections waiting in its accept "
      "queue are reset instead of moving to the other --reuse-port processes "
      "(deploy/sysctl.d/60-ringwire.conf)",
      known ? std::to_string(value) : "unavailable (Linux < 5.14)");
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
  std::unique_ptr<ListenerOffer> offer;
  bool draining = false;
  const std::string& metrics_bind =
      config->metrics_bind.empty() ? config->bind : config->metrics_bind;
  try {
    ServerConfig effective = *config;
    if (!config->handover.empty()) effective.inherited_listeners = take_listeners(config->handover);
    engine = make_engine(effective);
    engine->start();
    if (!effective.inherited_listeners.empty()) {
      log(LogLevel::kInfo, "took {} listening socket(s) over at {}",
          effective.inherited_listeners.size(), config->handover);
    }
    if (!config->handover.empty()) {
      // Once draining, our listeners are closing: a successor then binds its own.
      offer = std::make_unique<ListenerOffer>(control, config->handover, [&] {
        return draining ? std::vector<int>{} : engine->listening_fds();
      });
    }
    if (config->metrics_port) {
      metrics = std::make_unique<MetricsEndpoint>(
          control, resolve_address(metrics_bind, *config->metrics_port),
          BuildLabels{std::string(build_info().version), std::string(build_info().commit),
                      config->engine, engine->backend()},
          [&engine] { return per_loop_stats(*engine); });
    }
  } catch (const std::system_error& error) {
    // Sharing a port must be asked for: say how, in the same line.
    const bool in_use = error.code() == std::errc::address_in_use && !config->reuse_port;
    std::fprintf(
        stderr, "ringwire-server: cannot start: %s%s\n", error.what(),
        in_use ? " (--reuse-port shares it with the ringwire-server listening there)" : "");
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "ringwire-server: cannot start: %s\n", error.what());
    return 1;
  }

  fmt::print("listening on {} (loops={} engine={} backend={} service={})\n",
             resolve_address(config->bind, engine->port()).to_string(), engine->loops(),
             config->engine, engine->backend(), config->service);
  std::fflush(stdout);
  if (config->reuse_port && config->handover.empty()) warn_unless_queued_connections_migrate();
  if (metrics) {
    log(LogLevel::kInfo, "metrics on http://{}/metrics",
        resolve_address(metrics_bind, metrics->port()).to_string());
  }

  // After the ready line and the metrics endpoint: READY=1 means every listener is up.
  SystemdNotifier systemd(control, [&] {
    const StatsSnapshot stats = engine->stats();
    return fmt::format("{} {} connection(s) open, {} accepted", draining ? "draining," : "serving,",
                       stats[&LoopStats::connections_open],
                       stats[&LoopStats::connections_accepted]);
  });
  systemd.ready();
  SignalWatcher signals(control, [&](int signal) {
    if (draining) {
      log(LogLevel::kWarn, "second {}: exiting at once", ::strsignal(signal));
      std::_Exit(128 + signal);
    }
    draining = true;
    if (metrics) metrics->set_draining();
    log(LogLevel::kInfo, "{}: draining (stopped accepting; up to {} s for open connections)",
        ::strsignal(signal), config->drain_timeout_s);
    systemd.stopping();
    engine->drain(std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(config->drain_timeout_s)),
                  [&control] { control.stop(); });
  });
  control.run();
  engine->stop();
  report_totals(engine->stats());
  return 0;
}
