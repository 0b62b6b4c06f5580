#pragma once
// Logging: one line per event on stderr, each with an RFC 3339 UTC timestamp (microseconds), the
// level, and the loop it happened on (the thread's, set by setup_loop_thread). Text for people or
// one JSON object per line for a log pipeline. The level and the format are set once at start-up,
// before any loop runs. A line is one write(2), so lines from several loops never interleave.

#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ringwire {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
enum class LogFormat : int { kText, kJson };

void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(std::string_view name, LogLevel& level);
void set_log_format(LogFormat format);
LogFormat log_format();
bool parse_log_format(std::string_view name, LogFormat& format);

// The loop the calling thread runs (named in its lines); none on other threads.
void set_log_loop(std::optional<std::size_t> loop);

// One line, newline included, as write_log_line writes it:
//   text: 2026-11-30T23:20:48.123456Z warn loop=1 127.0.0.1:5555: protocol error: ...
//   json: {"time":"2026-11-30T23:20:48.123456Z","level":"warn","loop":1,"message":"..."}
std::string format_log_line(LogFormat format, std::chrono::system_clock::time_point time,
                            LogLevel level, std::optional<std::size_t> loop,
                            std::string_view message);
void write_log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (level < log_level()) return;
  write_log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ringwire
