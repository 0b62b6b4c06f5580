#include "ringwire/version.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

#include "build_info.h"  // generated at build time (cmake/build_info.cmake)
#include "ringwire/poller.h"

namespace ringwire {

BuildInfo build_info() {
  return {RINGWIRE_BUILD_VERSION, RINGWIRE_BUILD_COMMIT, RINGWIRE_BUILD_TYPE};
}

std::string version_line(std::string_view program, std::string_view extra) {
  const BuildInfo info = build_info();
  std::vector<std::string> backends = available_backends();
#if RINGWIRE_KQUEUE_DOUBLE
  // Never let a version line suggest real kqueue where it is the Linux test double.
  for (std::string& name : backends) {
    if (name == "kqueue") name = "kqueue(test-double)";
  }
#endif
  return fmt::format("{} {} (commit {}, {}; backends: {}{}{})", program, info.version, info.commit,
                     info.build_type, fmt::join(backends, " "), extra.empty() ? "" : "; ", extra);
}

}  // namespace ringwire
