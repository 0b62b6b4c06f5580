#include "preflight.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <fstream>

namespace ringwire::load {

std::size_t ephemeral_ports(std::size_t* low, std::size_t* high) {
  std::size_t lo = 32768, hi = 60999;  // Linux's default range, if /proc cannot be read
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  in >> lo >> hi;
  if (low != nullptr) *low = lo;
  if (high != nullptr) *high = hi;
  return hi >= lo ? hi - lo + 1 : 0;
}

std::size_t max_connections_for(std::size_t open_files, std::size_t threads) {
  const std::size_t reserved = kFdsReserved + kFdsPerThread * threads;
  return open_files > reserved ? open_files - reserved : 0;
}

std::size_t max_connections_for_fd_limit(std::size_t threads) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return max_connections_for(static_cast<std::size_t>(limit.rlim_max), threads);
}

std::size_t descriptors_needed(const LoadOptions& options) {
  const std::size_t threads = std::min(options.threads, options.connections);
  return options.connections + kFdsReserved + kFdsPerThread * threads;
}

std::string preflight_problem(const LoadOptions& options, const SystemLimits& limits) {
  const std::size_t need = descriptors_needed(options);
  if (limits.open_files < need) {
    const std::size_t threads = std::min(options.threads, options.connections);
    return fmt::format(
        "{} connections need {} file descriptors but the open-file limit (ulimit -n) is {}: use "
        "at most {} connections per process, or run several processes",
        options.connections, need, limits.open_files,
        max_connections_for(limits.open_files, threads));
  }
  const std::size_t ports =
      limits.port_high >= limits.port_low ? limits.port_high - limits.port_low + 1 : 0;
  const std::size_t sources = std::max<std::size_t>(1, options.sources.size());
  if (options.connections > ports * sources) {
    return fmt::format(
        "{} connections exceed the {} ephemeral ports of {} source address{} "
        "(net.ipv4.ip_local_port_range {}-{}): add --source 127.0.0.1,127.0.0.2,... (each "
        "address adds {} ports)",
        options.connections, ports * sources, sources, sources == 1 ? "" : "es", limits.port_low,
        limits.port_high, ports);
  }
  return {};
}

std::string preflight(const LoadOptions& options) {
  const std::size_t need = descriptors_needed(options);
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < need && limit.rlim_max >= need) {
    limit.rlim_cur = need;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  SystemLimits limits;
  limits.open_files = static_cast<std::size_t>(limit.rlim_max);
  ephemeral_ports(&limits.port_low, &limits.port_high);
  return preflight_problem(options, limits);
}

}  // namespace ringwire::load
