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

std::size_t max_connections_for_fd_limit(std::size_t threads) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const std::size_t reserved = kFdsReserved + kFdsPerThread * threads;
  return limit.rlim_max > reserved ? static_cast<std::size_t>(limit.rlim_max) - reserved : 0;
}

std::string preflight(const LoadOptions& options) {
  const std::size_t threads = std::min(options.threads, options.connections);
  const std::size_t need = options.connections + kFdsReserved + kFdsPerThread * threads;
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < need && limit.rlim_max >= need) {
    limit.rlim_cur = need;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_max < need) {
    return fmt::format(
        "{} connections need {} file descriptors but the open-file limit (ulimit -n) is {}: use "
        "at most {} connections per process, or run several processes",
        options.connections, need, limit.rlim_max, max_connections_for_fd_limit(threads));
  }
  std::size_t low = 0, high = 0;
  const std::size_t ports = ephemeral_ports(&low, &high);
  const std::size_t sources = std::max<std::size_t>(1, options.sources.size());
  if (options.connections > ports * sources) {
    return fmt::format(
        "{} connections exceed the {} ephemeral ports of {} source address{} "
        "(net.ipv4.ip_local_port_range {}-{}): add --source 127.0.0.1,127.0.0.2,... (each "
        "address adds {} ports)",
        options.connections, ports * sources, sources, sources == 1 ? "" : "es", low, high, ports);
  }
  return {};
}

}  // namespace ringwire::load
