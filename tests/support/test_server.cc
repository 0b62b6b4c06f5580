#include "support/test_server.h"

#include <thread>

namespace ringwire::test {

ServerConfig test_config(std::string engine) {
  ServerConfig config;
  config.port = 0;
  config.threads = 1;
  config.engine = std::move(engine);
  config.log_level = LogLevel::kError;
  return config;
}

TestServer::TestServer(ServerConfig config) {
  set_log_level(config.log_level);
  engine_ = make_engine(config);
  engine_->start();
}

TestServer::~TestServer() { engine_->stop(); }

void TestServer::drain(std::chrono::milliseconds timeout) {
  engine_->drain(timeout, [flag = drained_] { flag->store(true); });
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // The polling interval of a condition check, not a synchronising sleep: the condition decides.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace ringwire::test
