#include "ringwire/timer_queue.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace ringwire {
namespace {

using std::chrono::milliseconds;

TEST(TimerQueueTest, FiresInDeadlineOrderWithInsertionOrderTieBreak) {
  TimerQueue timers;
  const TimePoint t0{};
  std::vector<int> fired;
  timers.add(t0 + milliseconds(30), [&] { fired.push_back(3); });
  timers.add(t0 + milliseconds(10), [&] { fired.push_back(1); });
  timers.add(t0 + milliseconds(20), [&] { fired.push_back(20); });
  timers.add(t0 + milliseconds(20), [&] { fired.push_back(21); });
  EXPECT_EQ(timers.next_deadline(), t0 + milliseconds(10));
  EXPECT_EQ(timers.run_due(t0 + milliseconds(20)), 3u);
  EXPECT_EQ(fired, (std::vector<int>{1, 20, 21}));
  timers.run_due(t0 + milliseconds(100));
  EXPECT_EQ(fired.back(), 3);
  EXPECT_TRUE(timers.empty());
}

TEST(TimerQueueTest, CancelledTimerNeverFiresAndStaleIdIsIgnored) {
  TimerQueue timers;
  const TimePoint t0{};
  bool fired = false;
  const TimerId id = timers.add(t0 + milliseconds(5), [&] { fired = true; });
  EXPECT_TRUE(timers.cancel(id));
  EXPECT_FALSE(timers.cancel(id));
  // The slot is reused by a new timer: the old id must not cancel it.
  bool second = false;
  timers.add(t0 + milliseconds(5), [&] { second = true; });
  EXPECT_FALSE(timers.cancel(id));
  timers.run_due(t0 + milliseconds(10));
  EXPECT_FALSE(fired);
  EXPECT_TRUE(second);
}

TEST(TimerQueueTest, CallbackMayAddAndCancelTimers) {
  TimerQueue timers;
  const TimePoint t0{};
  int count = 0;
  TimerId victim = kNoTimer;
  timers.add(t0, [&] {
    ++count;
    timers.cancel(victim);
    timers.add(t0, [&] { ++count; });
  });
  victim = timers.add(t0 + milliseconds(1), [&] { count += 100; });
  timers.run_due(t0 + milliseconds(5));
  EXPECT_EQ(count, 2);
}

TEST(TimerQueueTest, HundredThousandTimersWithRandomCancelsStayOrdered) {
  TimerQueue timers;
  const TimePoint t0{};
  std::mt19937 random(7);
  std::vector<TimerId> ids;
  std::vector<long> fired;
  for (int i = 0; i < 100000; ++i) {
    const long ms = static_cast<long>(random() % 100000);
    ids.push_back(timers.add(t0 + milliseconds(ms), [&fired, ms] { fired.push_back(ms); }));
  }
  std::size_t cancelled = 0;
  for (std::size_t i = 0; i < ids.size(); i += 3) cancelled += timers.cancel(ids[i]) ? 1u : 0u;
  EXPECT_EQ(timers.size(), 100000u - cancelled);
  timers.run_due(t0 + milliseconds(100000));
  EXPECT_EQ(fired.size(), 100000u - cancelled);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
}

}  // namespace
}  // namespace ringwire
