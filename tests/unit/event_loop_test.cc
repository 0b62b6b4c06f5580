#include "ringwire/event_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "ringwire/reactor.h"
#include "support/test_server.h"

namespace ringwire {
namespace {

using std::chrono::milliseconds;

TEST(EventLoopTest, TimersFireInOrderOnTheLoop) {
  // Deadlines count from the loop's cached time, so the clock is read before the loop exists.
  const auto start = Clock::now();
  EventLoop loop;
  std::vector<int> order;
  loop.add_timer_after(milliseconds(20), [&] {
    order.push_back(2);
    loop.stop();
  });
  loop.add_timer_after(milliseconds(1), [&] { order.push_back(1); });
  const TimerId cancelled = loop.add_timer_after(milliseconds(5), [&] { order.push_back(99); });
  loop.cancel_timer(cancelled);
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_GE(Clock::now() - start, milliseconds(20));
}

TEST(EventLoopTest, TasksPostedFromOtherThreadsRunOnTheLoopInOrder) {
  EventLoop loop;
  std::vector<int> seen;
  std::atomic<bool> wrong_thread{false};
  std::thread loop_thread([&] { loop.run(); });
  std::thread poster([&] {
    for (int i = 0; i < 1000; ++i) {
      loop.post([&, i] {
        if (!loop.in_loop_thread()) wrong_thread = true;
        seen.push_back(i);
      });
    }
    loop.post([&] { loop.stop(); });
  });
  poster.join();
  loop_thread.join();
  EXPECT_FALSE(wrong_thread);
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], i);
}

TEST(EventLoopTest, StopFromAnotherThreadWakesABlockedLoop) {
  EventLoop loop;  // nothing registered, no timers: wait() blocks without limit
  std::atomic<bool> returned{false};
  std::thread loop_thread([&] {
    loop.run();
    returned = true;
  });
  std::atomic<bool> started{false};
  loop.post([&] { started = true; });
  ASSERT_TRUE(test::wait_until([&] { return started.load(); }));  // now blocked in wait()
  loop.stop();
  loop_thread.join();
  EXPECT_TRUE(returned);
}

class Counter final : public IoHandler {
 public:
  void on_io(const Event& event) override {
    ++events;
    flags |= event.flags;
  }
  int events = 0;
  std::uint32_t flags = 0;
};

// Backend tests are written once and run over every poller backend this build has.
class PollerTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Runs the loop for `duration` (a timer stops it).
  static void run_for(EventLoop& loop, milliseconds duration) {
    loop.add_timer_after(duration, [&loop] { loop.stop(); });
    loop.run();
  }
};

TEST_P(PollerTest, ReadinessIsDispatchedToTheRegisteredHandlerUntilRemoved) {
  EventLoop loop(GetParam());
  EXPECT_EQ(loop.backend_name(), GetParam());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Counter counter;
  const IoToken token = loop.add_io(a.get(), Interest::kRead, counter);
  ASSERT_EQ(::write(b.get(), "x", 1), 1);
  run_for(loop, milliseconds(30));
  // Level-triggered: unread data is reported on every turn, not once.
  EXPECT_GE(counter.events, 2);
  EXPECT_TRUE(counter.flags & kEventReadable);
  loop.remove_io(token);
  counter.events = 0;
  run_for(loop, milliseconds(10));
  EXPECT_EQ(counter.events, 0);
}

TEST_P(PollerTest, InterestChangesAreHonoured) {
  EventLoop loop(GetParam());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Counter counter;
  const IoToken token = loop.add_io(a.get(), Interest::kNone, counter);
  ASSERT_EQ(::write(b.get(), "x", 1), 1);
  run_for(loop, milliseconds(10));
  EXPECT_EQ(counter.events, 0);  // readable, but nobody asked
  loop.set_interest(token, Interest::kWrite);
  run_for(loop, milliseconds(10));
  EXPECT_EQ(counter.flags, kEventWritable);
  counter.flags = 0;
  loop.set_interest(token, Interest::kRead);
  run_for(loop, milliseconds(10));
  EXPECT_EQ(counter.flags, kEventReadable);
}

TEST_P(PollerTest, PeerCloseIsReportedAsReadable) {
  EventLoop loop(GetParam());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Counter counter;
  loop.add_io(a.get(), Interest::kRead, counter);
  b.reset();
  run_for(loop, milliseconds(10));
  EXPECT_TRUE(counter.flags & kEventReadable);  // recv() returns 0: how EOF is learnt
}

INSTANTIATE_TEST_SUITE_P(Backends, PollerTest, ::testing::ValuesIn(available_backends()),
                         [](const auto& param_info) { return param_info.param; });

TEST(EventLoopTest, UnknownBackendIsRefusedWithTheChoices) {
  try {
    EventLoop loop("no-such-backend");
    FAIL() << "constructed";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("epoll"), std::string::npos);
  }
}

TEST(ReactorTest, EachLoopRunsOnItsOwnThread) {
  Reactor reactor(ReactorOptions{3, false, ""});
  reactor.start();
  std::atomic<int> ran{0};
  std::vector<std::thread::id> ids(3);
  for (std::size_t i = 0; i < 3; ++i) {
    reactor.loop(i).post([&, i] {
      ids[i] = std::this_thread::get_id();
      ++ran;
    });
  }
  ASSERT_TRUE(test::wait_until([&] { return ran == 3; }));
  reactor.stop();
  reactor.join();
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  EXPECT_NE(ids[0], std::this_thread::get_id());
}

}  // namespace
}  // namespace ringwire
