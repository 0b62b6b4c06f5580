#include "descriptor_budget.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include "ringwire/reactor.h"

namespace ringwire {

std::string resource_problem(const ServerConfig& config, const ResourceLimits& limits) {
  const std::size_t loops = config.threads == 0 ? limits.online_cores : config.threads;
  const std::size_t per_loop =
      (config.engine == "uv" ? kUvDescriptorsPerLoop : kNativeDescriptorsPerLoop) + 1;
  const std::uint64_t need = kProcessDescriptors + std::uint64_t{loops} * per_loop;
  if (limits.open_files >= need) return {};
  const std::uint64_t fit = limits.open_files > kProcessDescriptors
                                ? (limits.open_files - kProcessDescriptors) / per_loop
                                : 0;
  const std::string advice =
      fit == 0
          ? "raise it (ulimit -n, LimitNOFILE=)"
          : fmt::format("raise it (ulimit -n, LimitNOFILE=) or use --threads {} or fewer", fit);
  return fmt::format(
      "{} loop{} need{} at least {} file descriptors ({} per loop with one connection, {} for the "
      "process) but the open-file limit is {}: {}",
      loops, loops == 1 ? "" : "s", loops == 1 ? "s" : "", need, per_loop, kProcessDescriptors,
      limits.open_files, advice);
}

std::string resource_problem(const ServerConfig& config) {
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  return resource_problem(
      config, ResourceLimits{static_cast<std::uint64_t>(files.rlim_cur), Reactor::online_cores()});
}

}  // namespace ringwire
