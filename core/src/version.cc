#include "ringwire/version.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "build_info.h"  // generated at build time (cmake/build_info.cmake)
#include "ringwire/poller.h"

namespace ringwire {

BuildInfo build_info() {
  return {RINGWIRE_BUILD_VERSION, RINGWIRE_BUILD_COMMIT, RINGWIRE_BUILD_TYPE};
}

std::string version_line(std::string_view program, std::string_view extra) {
  const BuildInfo info = build_info();
  return fmt::format("{} {} (commit {}, {}; backends: {}{}{})", program, info.version, info.commit,
                     info.build_type, fmt::join(available_backends(), " "),
                     extra.empty() ? "" : "; ", extra);
}

}  // namespace ringwire
