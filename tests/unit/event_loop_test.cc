#include "ringwire/event_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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
  // The kqueue test double (Linux) says so in its name: "kqueue(test-double)".
  const std::string name(loop.backend_name());
  EXPECT_TRUE(name == GetParam() || name == GetParam() + "(test-double)") << name;
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

TEST_P(PollerTest, PeerResetIsAnErrorWhileReading) {
  EventLoop loop(GetParam());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  ASSERT_EQ(::write(a.get(), "x", 1), 1);  // unread by b: its close resets the connection
  Counter counter;
  loop.add_io(a.get(), Interest::kReadWrite, counter);
  b.reset();
  run_for(loop, milliseconds(10));
  EXPECT_TRUE(counter.flags & kEventReadable);
  EXPECT_TRUE(counter.flags & (kEventHangup | kEventError)) << counter.flags;
}

TEST_P(PollerTest, PostFromAnotherThreadWakesABlockedLoop) {
  EventLoop loop(GetParam());  // no timers: wait() blocks without limit until woken
  std::thread loop_thread([&] { loop.run(); });
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) {
    loop.post([&] { ++ran; });
    ASSERT_TRUE(test::wait_until([&] { return ran.load() == i + 1; }));
  }
  loop.stop();
  loop_thread.join();
}

// A registration removed and its descriptor closed, then the number reused at once by a new
// registration: the new one hears its own events only, the old token none.
TEST_P(PollerTest, ADescriptorNumberReusedAfterRemoveAndCloseIsANewRegistration) {
  EventLoop loop(GetParam());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Counter old_counter;
  const IoToken old_token = loop.add_io(a.get(), Interest::kRead, old_counter);
  loop.set_interest(old_token, Interest::kReadWrite);  // queued, then moot
  const int number = a.get();
  loop.remove_io(old_token);
  a.reset();
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd c(pair[0]), d(pair[1]);
  ASSERT_EQ(c.get(), number);  // the lowest free number: the one just closed
  Counter counter;
  loop.add_io(c.get(), Interest::kNone, counter);
  ASSERT_EQ(::write(d.get(), "x", 1), 1);
  run_for(loop, milliseconds(10));
  EXPECT_EQ(counter.events, 0);  // readable, but not asked: the old interest did not carry over
  EXPECT_EQ(old_counter.events, 0);
}

// ---- the completion form, on the backends that have it ----

// Records every event it is handed, and the bytes a receive lent with it (valid only during the
// dispatch, so copied).
class Recorder final : public IoHandler {
 public:
  void on_io(const Event& event) override {
    events.push_back(event);
    received.emplace_back();
    if (event.data != nullptr && event.result > 0) {
      received.back().assign(reinterpret_cast<const char*>(event.data),
                             static_cast<std::size_t>(event.result));
    }
  }
  std::vector<Event> events;
  std::vector<std::string> received;
};

// One loop turn: what is ready is dispatched (the posted stop wakes the wait at once).
void turn(EventLoop& loop) {
  loop.post([&loop] { loop.stop(); });
  loop.run();
}

// Turns until `count` events came; false if they never do.
bool turn_until(EventLoop& loop, const Recorder& recorder, std::size_t count) {
  for (int turns = 0; turns < 1000 && recorder.events.size() < count; ++turns) turn(loop);
  return recorder.events.size() >= count;
}

TEST_P(PollerTest, CompletionsComeBackWithTheirTagAndResult) {
  EventLoop loop(GetParam());
  if (!loop.completions()) GTEST_SKIP() << GetParam() << " is readiness only";
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Recorder recorder;
  const IoToken token = loop.add_io(a.get(), Interest::kNone, recorder);

  // One multishot receive: a completion per arrival, each with its bytes, and it goes on.
  loop.submit_recv_multishot(token, 7);
  ASSERT_EQ(::write(b.get(), "hello", 5), 5);
  ASSERT_TRUE(turn_until(loop, recorder, 1));
  EXPECT_EQ(recorder.events[0].token, token);
  EXPECT_TRUE(recorder.events[0].flags & kEventCompletion);
  EXPECT_TRUE(recorder.events[0].flags & kEventMore);
  EXPECT_EQ(recorder.events[0].op, 7);
  EXPECT_EQ(recorder.events[0].result, 5);
  EXPECT_EQ(recorder.received[0], "hello");
  ASSERT_EQ(::write(b.get(), "again", 5), 5);
  ASSERT_TRUE(turn_until(loop, recorder, 2));
  EXPECT_EQ(recorder.events[1].op, 7);
  EXPECT_EQ(recorder.received[1], "again");

  char first[] = "ab", second[] = "cde";
  iovec iov[2] = {{first, 2}, {second, 3}};
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = 2;
  loop.submit_sendmsg(token, message, MSG_NOSIGNAL, 9);
  ASSERT_TRUE(turn_until(loop, recorder, 3));
  EXPECT_EQ(recorder.events[2].op, 9);
  EXPECT_EQ(recorder.events[2].result, 5);
  EXPECT_EQ(recorder.events[2].data, nullptr);
  char got[8] = {};
  EXPECT_EQ(::read(b.get(), got, sizeof got), 5);
  EXPECT_STREQ(got, "abcde");

  // Cancelled, it ends: a last completion without kEventMore.
  loop.submit_cancel(token, 7);
  ASSERT_TRUE(turn_until(loop, recorder, 4));
  EXPECT_EQ(recorder.events[3].op, 7);
  EXPECT_EQ(recorder.events[3].result, -ECANCELED);
  EXPECT_FALSE(recorder.events[3].flags & kEventMore);
  loop.remove_io(token);
}

// More sockets' receives completing at once than the loop has buffers: each gets its bytes, and
// one that ran out of buffers (ENOBUFS, no kEventMore; whether it happens depends on how much
// task work the kernel runs per wait) goes on once armed again. uring_poller_test makes it run
// dry for certain.
TEST_P(PollerTest, ManyMultishotReceivesAtOnceEachGetTheirBytes) {
  EventLoop loop(GetParam());
  if (!loop.completions()) GTEST_SKIP() << GetParam() << " is readiness only";
  constexpr int kSockets = 1100;  // over the 1,024 buffers; each socket's byte takes one
  std::vector<UniqueFd> ours, theirs;
  Recorder recorder;
  std::vector<IoToken> tokens;
  for (int i = 0; i < kSockets; ++i) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
    ours.emplace_back(pair[0]);
    theirs.emplace_back(pair[1]);
    tokens.push_back(loop.add_io(pair[0], Interest::kNone, recorder));
    loop.submit_recv_multishot(tokens.back(), 1);
  }
  turn(loop);  // every receive is in the kernel, waiting
  for (auto& fd : theirs) ASSERT_EQ(::write(fd.get(), "x", 1), 1);
  std::size_t bytes = 0, ran_dry = 0;
  for (int turns = 0; turns < 1000 && bytes < kSockets; ++turns) {
    const std::size_t seen = recorder.events.size();
    turn(loop);
    for (std::size_t i = seen; i < recorder.events.size(); ++i) {
      const Event& event = recorder.events[i];
      if (event.result > 0) {
        EXPECT_EQ(recorder.received[i], "x");
        bytes += static_cast<std::size_t>(event.result);
      } else {
        ASSERT_EQ(event.result, -ENOBUFS);
        ASSERT_FALSE(event.flags & kEventMore);
        ++ran_dry;
        loop.submit_recv_multishot(event.token, 1);
      }
    }
  }
  EXPECT_EQ(bytes, std::size_t{kSockets});
  RecordProperty("ran_dry", static_cast<int>(ran_dry));
  for (const IoToken token : tokens) {
    loop.cancel_all_now(token);
    loop.remove_io(token);
  }
}

// The close path of a completion transport: once cancel_all_now() returns the kernel takes
// nothing more from the socket, even for bytes that had already woken the receive, and the
// completions still on their way are dropped with the registration.
TEST_P(PollerTest, CancelAllNowLeavesTheBytesInTheSocket) {
  EventLoop loop(GetParam());
  if (!loop.completions()) GTEST_SKIP() << GetParam() << " is readiness only";
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Recorder recorder;
  const IoToken token = loop.add_io(a.get(), Interest::kNone, recorder);
  loop.submit_recv_multishot(token, 7);
  turn(loop);  // the receive is in the kernel, waiting
  ASSERT_TRUE(recorder.events.empty());
  ASSERT_EQ(::write(b.get(), "x", 1), 1);  // wakes it; its copy waits for the loop's next wait
  loop.cancel_all_now(token);
  loop.remove_io(token);
  for (int i = 0; i < 5; ++i) turn(loop);
  EXPECT_TRUE(recorder.events.empty()) << "a completion of a removed registration was dispatched";
  char got = 0;
  EXPECT_EQ(::read(a.get(), &got, 1), 1) << "the byte was taken from the socket";
  EXPECT_EQ(got, 'x');
}

// An operation queued but not yet handed to the kernel is cancelled too, never started later.
TEST_P(PollerTest, CancelAllNowCoversOperationsNotYetSubmitted) {
  EventLoop loop(GetParam());
  if (!loop.completions()) GTEST_SKIP() << GetParam() << " is readiness only";
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Recorder recorder;
  const IoToken token = loop.add_io(a.get(), Interest::kNone, recorder);
  loop.submit_recv_multishot(token, 7);
  loop.cancel_all_now(token);
  loop.remove_io(token);
  ASSERT_EQ(::write(b.get(), "x", 1), 1);
  for (int i = 0; i < 5; ++i) turn(loop);
  EXPECT_TRUE(recorder.events.empty());
  char got = 0;
  EXPECT_EQ(::read(a.get(), &got, 1), 1);
}

TEST(EventLoopTest, ReadinessOnlyBackendsRefuseOperations) {
  EventLoop loop("epoll");
  EXPECT_FALSE(loop.completions());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  Recorder recorder;
  const IoToken token = loop.add_io(a.get(), Interest::kNone, recorder);
  EXPECT_THROW(loop.submit_recv_multishot(token, 1), std::logic_error);
  loop.remove_io(token);
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
