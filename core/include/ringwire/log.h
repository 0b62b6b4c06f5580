#pragma once
// Logging: one line per event on stderr, with a level. The level is set once at start-up.

#include <fmt/format.h>

#include <string_view>

namespace ringwire {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(std::string_view name, LogLevel& level);
void write_log_line(LogLevel level, std::string_view line);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (level < log_level()) return;
  write_log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ringwire
