#pragma once
// Bounds for the numeric flags of both binaries: CLI11 validators that refuse a value outside
// [low, high] in one line naming the bounds ("--threads: 5000 is not an integer from 0 to 1024"),
// before CLI11 converts the text (which would wrap "-1" around into a size_t, or take "nan").

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringwire::cli {

// Bounds both binaries use.
inline constexpr std::int64_t kMaxPort = 65535;
inline constexpr std::int64_t kMaxThreads =
    1024;  // loops or client threads: far past any core count
inline constexpr std::int64_t kMaxFrameLimit = std::int64_t{1} << 30;  // --max-frame: 1 GiB
inline constexpr double kMaxSeconds = 365.0 * 24 * 3600;               // durations: a year

// A whole number from `low` to `high`. A transform, not a check: it rewrites the text in plain
// decimal, so that "010" means ten (CLI11 alone would read octal eight).
inline CLI::Validator integer_from(std::int64_t low, std::int64_t high) {
  return CLI::Validator(
      [low, high](std::string& text) -> std::string {
        std::int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (error != std::errc() || stop != end || value < low || value > high) {
          return fmt::format("{} is not an integer from {} to {}", text, low, high);
        }
        text = std::to_string(value);
        return {};
      },
      fmt::format("{}..{}", low, high));
}

// A number from `low` to `high` (never NaN or infinite); `what` names it in the message ("a number
// of seconds").
inline CLI::Validator number_from(double low, double high, std::string_view what = "a number") {
  return CLI::Validator(
      [low, high, what](std::string& text) -> std::string {
        double value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (error != std::errc() || stop != end || !(value >= low && value <= high)) {
          return fmt::format("{} is not {} from {} to {}", text, what, low, high);
        }
        return {};
      },
      fmt::format("{}..{}", low, high));
}

inline CLI::Validator seconds_from(double low, double high) {
  return number_from(low, high, "a number of seconds");
}

}  // namespace ringwire::cli
