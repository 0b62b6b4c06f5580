#include "ringwire/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace ringwire {
namespace {

// Set once at start-up, before any loop runs; read everywhere after.
std::atomic<LogLevel>& level_setting() {
  static std::atomic<LogLevel> level{LogLevel::kInfo};
  return level;
}

}  // namespace

void set_log_level(LogLevel level) { level_setting().store(level, std::memory_order_relaxed); }
LogLevel log_level() { return level_setting().load(std::memory_order_relaxed); }

bool parse_log_level(std::string_view name, LogLevel& level) {
  if (name == "debug")
    level = LogLevel::kDebug;
  else if (name == "info")
    level = LogLevel::kInfo;
  else if (name == "warn")
    level = LogLevel::kWarn;
  else if (name == "error")
    level = LogLevel::kError;
  else if (name == "off")
    level = LogLevel::kOff;
  else
    return false;
  return true;
}

void write_log_line(LogLevel level, std::string_view line) {
  static constexpr std::string_view kPrefix[] = {"debug: ", "", "warning: ", "error: ", ""};
  std::string text = "ringwire: ";
  text += kPrefix[static_cast<int>(level)];
  text += line;
  text += '\n';
  // One write per line, so lines from several loops never interleave.
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, text.data(), text.size());
}

}  // namespace ringwire
