#pragma once
// ServerConfig: everything ringwire-server's command line sets (DESIGN §2), and its parser.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ringwire/frame.h"
#include "ringwire/log.h"
#include "ringwire/server.h"

namespace ringwire {

struct ServerConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 7000;
  std::size_t threads = 0;  // 0: one loop per online core
  std::string service = "echo";
  std::string engine = "native";
  std::string backend;  // empty: the platform's best
  std::uint32_t max_frame = kDefaultMaxFrame;
  std::uint64_t max_connections = 0;
  double idle_timeout_s = 0;
  double drain_timeout_s = 10;
  std::optional<std::uint16_t> metrics_port;  // none: no metrics endpoint
  std::string metrics_bind;                   // empty: --bind
  Balance balance = Balance::kKernel;
  bool pin_cpus = false;
  bool reuse_port = false;  // join an existing SO_REUSEPORT group on the port
  std::string handover;     // unix socket path: take the listeners from / offer ours there
  // Listening sockets taken over from the predecessor at `handover` (set by main, not a flag).
  std::vector<int> inherited_listeners;
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
};

// Parses argv. On --help or --version prints it and returns nullopt with exit_code 0; on a bad flag
// or a value out of its bounds (cli/flag_bounds.h) prints one line to stderr and returns nullopt
// with exit_code 2; when this process's limits cannot run the configuration (too few descriptors
// for its loops: descriptor_budget.h), one line and exit_code 1. Nothing has started by then.
std::optional<ServerConfig> parse_server_options(int argc, char** argv, int& exit_code);

}  // namespace ringwire
