#pragma once
// Which ringwire a program runs: the version, the commit built and how, for --version lines, logs
// and bug reports.

#include <string>
#include <string_view>

namespace ringwire {

struct BuildInfo {
  std::string_view version;     // the project version, "0.1.0"
  std::string_view commit;      // git describe of the tree built ("0123456789ab[-dirty]"), or
                                // "unknown" when it was not built from a git checkout
  std::string_view build_type;  // CMake's configuration: "Release", "Debug", "RelWithDebInfo", ...
};
BuildInfo build_info();

// One line for --version: "PROGRAM 0.1.0 (commit 0123456789ab, Release; backends: epoll
// io_uring)" with "; EXTRA" before the parenthesis closes when `extra` is not empty. The backends
// are the pollers this build has (available_backends()).
std::string version_line(std::string_view program, std::string_view extra = {});

}  // namespace ringwire
