// ringwire-server: parse the command line, start an engine, serve, and drain on SIGINT/SIGTERM.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include "engines/engine.h"
#include "options.h"
#include "ringwire/event_loop.h"
#include "ringwire/log.h"
#include "signals.h"

using namespace ringwire;

namespace {

void report_totals(const StatsSnapshot& stats) {
  log(LogLevel::kInfo,
      "stopped: {} connection(s) served, {} frame(s), {} byte(s) in, {} byte(s) out; "
      "{} drained, {} cut off by the drain timeout, {} protocol error(s); {} failed accept(s), "
      "{} accept pause(s), {} shed for lack of descriptors, {} refused over --max-connections",
      stats.connections_accepted, stats.frames_received, stats.bytes_received, stats.bytes_sent,
      stats.closed_for(CloseReason::kDrained), stats.closed_for(CloseReason::kDrainTimeout),
      stats.closed_for(CloseReason::kProtocolError), stats.accept_errors, stats.accept_pauses,
      stats.connections_shed, stats.closed_for(CloseReason::kMaxConnections));
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const auto config = parse_server_options(argc, argv, exit_code);
  if (!config) return exit_code;
  set_log_level(config->log_level);
  // Before any thread exists, so every loop thread inherits the mask and only the signalfd sees
  // them.
  block_shutdown_signals();

  std::unique_ptr<Engine> engine;
  try {
    engine = make_engine(*config);
    engine->start();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "ringwire-server: cannot start: %s\n", error.what());
    return 1;
  }

  std::printf("listening on %s:%u (loops=%zu engine=%s backend=%s service=%s)\n",
              config->bind.find(':') != std::string::npos ? ("[" + config->bind + "]").c_str()
                                                          : config->bind.c_str(),
              engine->port(), engine->loops(), config->engine.c_str(), engine->backend().c_str(),
              config->service.c_str());
  std::fflush(stdout);

  // The main thread runs a small control loop: signals in, drain out.
  EventLoop control;
  bool draining = false;
  SignalWatcher signals(control, [&](int signal) {
    if (draining) {
      log(LogLevel::kWarn, "second {}: exiting at once", ::strsignal(signal));
      std::_Exit(128 + signal);
    }
    draining = true;
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
