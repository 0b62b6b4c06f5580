#pragma once
// TestServer: a real ringwire server engine on an ephemeral loopback port, run in-process for the
// duration of a test. Owns the engine; stops and joins it in its destructor.
// wait_until(): polls a condition until it holds or a deadline passes — the only way tests wait.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engines/engine.h"
#include "options.h"

namespace ringwire::test {

// Every server variant this build has: "ENGINE" or "native:BACKEND" (each poller backend).
std::vector<std::string> server_variants();
// The variant as a test-name suffix ("native_io_uring").
std::string variant_test_name(const std::string& variant);

// The ringwire-server flags that select `variant` ("--engine uv", "--engine native --backend
// epoll"), for tests that run the binary.
std::vector<std::string> variant_flags(const std::string& variant);

// The defaults tests start from: port 0 (any free port), one loop, echo, quiet logs.
// `variant` is an engine name or "native:BACKEND".
ServerConfig test_config(const std::string& variant = "native");

class TestServer {
 public:
  explicit TestServer(ServerConfig config = test_config());
  ~TestServer();
  std::uint16_t port() const { return engine_->port(); }
  Engine& engine() { return *engine_; }
  StatsSnapshot stats() const { return engine_->stats(); }
  // Starts a graceful drain; drained() turns true once every connection is closed.
  void drain(std::chrono::milliseconds timeout);
  bool drained() const { return drained_->load(); }

 private:
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<std::atomic<bool>> drained_ = std::make_shared<std::atomic<bool>>(false);
};

// Re-evaluates `condition` (every millisecond) until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ringwire::test
