// Log lines: the timestamp, level and loop of every line, and JSON that a parser reads back.

#include "ringwire/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ringwire {
namespace {

using namespace std::chrono;

// 2026-11-30T23:20:48.000042Z
const system_clock::time_point kTime =
    system_clock::time_point(seconds(1796080848) + microseconds(42));

TEST(LogTest, TextLineHasTimestampLevelLoopAndMessage) {
  EXPECT_EQ(format_log_line(LogFormat::kText, kTime, LogLevel::kWarn, 3, "peer: bad length"),
            "2026-11-30T23:20:48.000042Z warn loop=3 peer: bad length\n");
  EXPECT_EQ(format_log_line(LogFormat::kText, kTime, LogLevel::kInfo, std::nullopt, "draining"),
            "2026-11-30T23:20:48.000042Z info draining\n");
  EXPECT_EQ(format_log_line(LogFormat::kText, kTime, LogLevel::kWarn, 0, "two\nlines\r"),
            "2026-11-30T23:20:48.000042Z warn loop=0 two\\nlines\\r\n")
      << "one event, one line";
}

TEST(LogTest, JsonLineIsOneObjectThatParsesBack) {
  const std::string message = "quote \" backslash \\ newline \n tab \t bell \x07 end";
  const std::string line = format_log_line(LogFormat::kJson, kTime, LogLevel::kError, 1, message);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json.at("time"), "2026-11-30T23:20:48.000042Z");
  EXPECT_EQ(json.at("level"), "error");
  EXPECT_EQ(json.at("loop"), 1);
  EXPECT_EQ(json.at("message"), message);
  const auto no_loop = nlohmann::json::parse(
      format_log_line(LogFormat::kJson, kTime, LogLevel::kDebug, std::nullopt, "x"));
  EXPECT_FALSE(no_loop.contains("loop"));
  EXPECT_EQ(no_loop.at("level"), "debug");
}

TEST(LogTest, FormatNamesParse) {
  LogFormat format = LogFormat::kText;
  EXPECT_TRUE(parse_log_format("json", format));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_TRUE(parse_log_format("text", format));
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_FALSE(parse_log_format("yaml", format));
}

}  // namespace
}  // namespace ringwire
