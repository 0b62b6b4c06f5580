#pragma once
// Engine: what runs the services — the native reactor, or libuv loops. main() knows only this.
// Construct, start(), drain()/stop() from the main thread; stats() from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "ringwire/server.h"

namespace ringwire {

class Engine {
 public:
  virtual ~Engine() = default;
  // Binds every loop's listener and starts the loop threads. Throws std::system_error (one line).
  virtual void start() = 0;
  virtual std::uint16_t port() const = 0;
  virtual std::size_t loops() const = 0;
  virtual std::string backend() const = 0;
  // The listening sockets, for a successor to take over (listener_handover.h); valid after start()
  // until drain().
  virtual std::vector<int> listening_fds() const = 0;
  // Graceful drain (DESIGN §2); `done` runs once, on some engine thread, when all are closed.
  virtual void drain(Clock::duration timeout, std::function<void()> done) = 0;
  // Stops the loops and joins their threads.
  virtual void stop() = 0;
  virtual StatsSnapshot stats() const = 0;
  virtual StatsSnapshot loop_stats(std::size_t loop) const = 0;
};

// The engines this build has ("native", "uv").
std::vector<std::string> engine_names();
// The engine config.engine names ("native", "uv"); throws std::invalid_argument otherwise.
std::unique_ptr<Engine> make_engine(const ServerConfig& config);
std::unique_ptr<Engine> make_native_engine(const ServerConfig& config);
std::unique_ptr<Engine> make_uv_engine(const ServerConfig& config);

}  // namespace ringwire
