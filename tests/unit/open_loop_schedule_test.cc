#include "open_loop_schedule.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringwire::load {
namespace {

TEST(OpenLoopSchedule, IssuesEveryDueFrameAtItsScheduledTime) {
  // 1000 frames/s over 4 connections; this worker has connections 1 and 3.
  OpenLoopSchedule schedule(1000, 4, {1, 3});
  schedule.start(0);
  EXPECT_EQ(schedule.next_due_ns(), 1'000'000);
  std::vector<std::pair<std::size_t, std::int64_t>> issued;
  auto record = [&](std::size_t local, std::int64_t at) { issued.emplace_back(local, at); };
  EXPECT_EQ(schedule.run_due(999'999, record), 0u);
  // Waking late (at 9 ms) issues every frame that came due, each with its own time: no burst
  // stamped "now".
  EXPECT_EQ(schedule.run_due(9'000'000, record), 5u);
  const std::vector<std::pair<std::size_t, std::int64_t>> expected = {
      {0, 1'000'000}, {1, 3'000'000}, {0, 5'000'000}, {1, 7'000'000}, {0, 9'000'000}};
  EXPECT_EQ(issued, expected);
  EXPECT_EQ(schedule.next_due_ns(), 11'000'000);  // connection 1's next, not 0's
}

TEST(OpenLoopSchedule, RateIsExactOverLongRuns) {
  OpenLoopSchedule schedule(3333.3, 7, {0, 1, 2, 3, 4, 5, 6});
  schedule.start(1'000);
  std::size_t n = schedule.run_due(1'000 + 10'000'000'000, [](std::size_t, std::int64_t) {});
  EXPECT_NEAR(static_cast<double>(n), 33333.0, 1.0);
}

}  // namespace
}  // namespace ringwire::load
