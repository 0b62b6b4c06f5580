#pragma once
// Preflight: the checks that make a run fail fast, with one clear line, instead of half-way
// through opening connections. Any thread; reads process limits and /proc.

#include <cstddef>
#include <string>

#include "options.h"

namespace ringwire::load {

// Descriptors a run needs beyond one per connection: per thread its epoll fd, eventfd and timerfd
// (and a spare for an io_uring ring), plus the process's own (stdio, the JSON file, /proc reads,
// gnuplot's pipe, a test's in-process server).
inline constexpr std::size_t kFdsPerThread = 4;
inline constexpr std::size_t kFdsReserved = 32;

// The most connections one process with `threads` threads can open under `open_files`
// descriptors.
std::size_t max_connections_for(std::size_t open_files, std::size_t threads);
// The same under this process's open-file limit (the hard limit, since the preflight raises the
// soft limit to it).
std::size_t max_connections_for_fd_limit(std::size_t threads);

// What the preflight checks a run against: the hard open-file limit and one source address's
// ephemeral port range (net.ipv4.ip_local_port_range, inclusive).
struct SystemLimits {
  std::size_t open_files = 0;
  std::size_t port_low = 0;
  std::size_t port_high = 0;
};

// Descriptors a run of `options` needs.
std::size_t descriptors_needed(const LoadOptions& options);

// Returns empty when a run of `options` fits `limits`, else the one line that says why not.
std::string preflight_problem(const LoadOptions& options, const SystemLimits& limits);

// The checks against this process's limits: returns empty when the run can start, else the one
// line that says why not. Raises the soft open-file limit to what the run needs when the hard
// limit allows.
std::string preflight(const LoadOptions& options);

// The number of ephemeral ports one source address has (net.ipv4.ip_local_port_range).
std::size_t ephemeral_ports(std::size_t* low = nullptr, std::size_t* high = nullptr);

}  // namespace ringwire::load
