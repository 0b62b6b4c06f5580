#include "ringwire/log.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <string>

namespace ringwire {
namespace {

// Set once at start-up, before any loop runs; read everywhere after.
std::atomic<LogLevel>& level_setting() {
  static std::atomic<LogLevel> level{LogLevel::kInfo};
  return level;
}
std::atomic<LogFormat>& format_setting() {
  static std::atomic<LogFormat> format{LogFormat::kText};
  return format;
}

// Per thread, not shared: each loop thread names itself once when it starts.
thread_local std::optional<std::size_t> this_thread_loop;

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error", "off"};

void append_timestamp(std::string& out, std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds);
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  ::gmtime_r(&whole, &utc);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, micros.count());
}

// A JSON string's contents (RFC 8259): quote, backslash and control characters escaped.
void append_json_escaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
}

}  // namespace

void set_log_level(LogLevel level) { level_setting().store(level, std::memory_order_relaxed); }
LogLevel log_level() { return level_setting().load(std::memory_order_relaxed); }

bool parse_log_level(std::string_view name, LogLevel& level) {
  for (int i = 0; i < static_cast<int>(std::size(kLevelNames)); ++i) {
    if (name == kLevelNames[i]) {
      level = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

void set_log_format(LogFormat format) { format_setting().store(format, std::memory_order_relaxed); }
LogFormat log_format() { return format_setting().load(std::memory_order_relaxed); }

bool parse_log_format(std::string_view name, LogFormat& format) {
  if (name == "text") {
    format = LogFormat::kText;
  } else if (name == "json") {
    format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

void set_log_loop(std::optional<std::size_t> loop) { this_thread_loop = loop; }

std::string format_log_line(LogFormat format, std::chrono::system_clock::time_point time,
                            LogLevel level, std::optional<std::size_t> loop,
                            std::string_view message) {
  const std::string_view level_name = kLevelNames[static_cast<int>(level)];
  std::string out;
  out.reserve(message.size() + 80);
  if (format == LogFormat::kJson) {
    out += "{\"time\":\"";
    append_timestamp(out, time);
    out += "\",\"level\":\"";
    out += level_name;
    out += '"';
    if (loop) fmt::format_to(std::back_inserter(out), ",\"loop\":{}", *loop);
    out += ",\"message\":\"";
    append_json_escaped(out, message);
    out += "\"}\n";
    return out;
  }
  append_timestamp(out, time);
  out += ' ';
  out += level_name;
  if (loop) fmt::format_to(std::back_inserter(out), " loop={}", *loop);
  out += ' ';
  // One event, one line: a line break inside the message (a service's error text) is escaped.
  for (const char c : message) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  out += '\n';
  return out;
}

void write_log_line(LogLevel level, std::string_view message) {
  const std::string line = format_log_line(log_format(), std::chrono::system_clock::now(), level,
                                           this_thread_loop, message);
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace ringwire
