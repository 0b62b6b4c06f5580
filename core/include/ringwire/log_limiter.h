#pragma once
// LogLimiter: lets an event that can repeat thousands of times a second (a refused connection, a
// failed accept) be logged at most once per interval, with the count of occurrences the line
// stands for. One per loop; loop thread only.

#include <chrono>
#include <cstdint>

#include "ringwire/timer_queue.h"

namespace ringwire {

class LogLimiter {
 public:
  static constexpr std::chrono::seconds kDefaultInterval{1};

  explicit LogLimiter(Clock::duration interval = kDefaultInterval) : interval_(interval) {}

  // Counts one occurrence at `now`. When a line is due, returns how many occurred since the last
  // line (this one included) and starts a new interval; otherwise returns 0.
  std::uint64_t occurred(TimePoint now) {
    ++since_last_line_;
    if (logged_once_ && now - last_line_ < interval_) return 0;
    logged_once_ = true;
    last_line_ = now;
    const std::uint64_t count = since_last_line_;
    since_last_line_ = 0;
    return count;
  }

 private:
  Clock::duration interval_;
  TimePoint last_line_{};
  bool logged_once_ = false;
  std::uint64_t since_last_line_ = 0;
};

}  // namespace ringwire
