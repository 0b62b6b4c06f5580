#pragma once
// PeerWarnings: how a loop says that something went wrong with one peer (a protocol error, no ring
// buffer for it, a service that threw). A thousand bad peers must not write a thousand lines: like
// accept errors, these go through a LogLimiter, at most one line per interval per loop, and a line
// says how many it stands for. One per loop (in its SessionContext); loop thread only.

#include <cstdint>
#include <string>
#include <utility>

#include "ringwire/log.h"
#include "ringwire/log_limiter.h"

namespace ringwire {

class PeerWarnings {
 public:
  template <typename... Args>
  void warn(TimePoint now, fmt::format_string<Args...> format, Args&&... args) {
    if (LogLevel::kWarn < log_level()) return;
    const std::uint64_t count = limit_.occurred(now);
    if (count == 0) return;  // counted: the next line says so
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (count > 1) {
      line += fmt::format(" [{} more peer warning(s) suppressed since the last line]", count - 1);
    }
    write_log_line(LogLevel::kWarn, line);
  }

 private:
  LogLimiter limit_;
};

}  // namespace ringwire
