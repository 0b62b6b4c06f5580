#pragma once
// Descriptor budget: whether this process's open-file limit can run the server's configuration at
// all, checked before anything starts (as the flags' bounds are, cli/flag_bounds.h), so that a
// server never prints its ready line and then dies of a missing descriptor.

#include <cstddef>
#include <cstdint>
#include <string>

#include "options.h"

namespace ringwire {

// Descriptors a loop holds open whatever its load: the poller (epoll or io_uring) and its wakeup
// eventfd, its listener and the spare descriptor the acceptor keeps for shedding under EMFILE
// (4); libuv adds its async and signal pipes (6). Measured with ls /proc/PID/fd.
inline constexpr std::size_t kNativeDescriptorsPerLoop = 4;
inline constexpr std::size_t kUvDescriptorsPerLoop = 6;
// The process's own: stdio, the control loop's poller, eventfd and signalfd, the metrics
// listener, the port probe, and spares for logging and /proc reads.
inline constexpr std::size_t kProcessDescriptors = 16;

struct ResourceLimits {
  std::uint64_t open_files = 0;  // RLIMIT_NOFILE, soft: what this process may open
  std::size_t online_cores = 1;  // what --threads 0 means
};

// Empty when `config` can start under `limits`, else the one line that says why not and what to
// change. Each loop must be able to hold its own descriptors and at least one connection.
std::string resource_problem(const ServerConfig& config, const ResourceLimits& limits);
// The same against this process's limits.
std::string resource_problem(const ServerConfig& config);

}  // namespace ringwire
