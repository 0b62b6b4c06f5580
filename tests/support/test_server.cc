#include "support/test_server.h"

#include <thread>

#include "ringwire/poller.h"

namespace ringwire::test {

std::vector<std::string> server_variants() {
  std::vector<std::string> variants;
  for (const std::string& engine : engine_names()) {
    if (engine != "native") {
      variants.push_back(engine);
      continue;
    }
    for (const std::string& backend : available_backends()) variants.push_back("native:" + backend);
  }
  return variants;
}

std::string variant_test_name(const std::string& variant) {
  std::string name = variant;
  for (char& c : name) {
    if (c == ':') c = '_';
  }
  return name;
}

std::vector<std::string> variant_flags(const std::string& variant) {
  const auto colon = variant.find(':');
  std::vector<std::string> flags{"--engine", variant.substr(0, colon)};
  if (colon != std::string::npos) {
    flags.push_back("--backend");
    flags.push_back(variant.substr(colon + 1));
  }
  return flags;
}

ServerConfig test_config(const std::string& variant) {
  ServerConfig config;
  config.port = 0;
  config.threads = 1;
  const auto colon = variant.find(':');
  config.engine = variant.substr(0, colon);
  if (colon != std::string::npos) config.backend = variant.substr(colon + 1);
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
