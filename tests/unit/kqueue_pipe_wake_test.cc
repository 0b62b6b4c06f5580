// The kqueue poller's wake-up where a platform has no EVFILT_USER: a pipe. This file's target
// compiles kqueue_poller.cc a second time against the test double with EVFILT_USER hidden
// (RINGWIRE_KQUEUE_DOUBLE_WITHOUT_EVFILT_USER) and the class renamed KqueuePipeWakePoller, so the
// fallback is built and run here beside the EVFILT_USER one in ringwire::core.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <thread>

#include "poller/kqueue_poller.h"

namespace ringwire {
namespace {

#ifdef EVFILT_USER
#error "this test is about the fallback: EVFILT_USER must be hidden here"
#endif

TEST(KqueuePipeWakeTest, WakeFromAnotherThreadEndsAWaitWithoutLimit) {
  KqueuePipeWakePoller poller;
  ASSERT_TRUE(poller.wakes());
  std::array<Event, 8> events{};
  std::atomic<bool> waiting{false};
  std::thread waker([&] {
    while (!waiting.load()) std::this_thread::yield();
    poller.wake();
  });
  waiting = true;
  // No limit: only the wake-up can end it (a lost one hangs until ctest's timeout).
  EXPECT_EQ(poller.wait(events, -1), 0u);  // the wake-up itself is no event
  waker.join();
  EXPECT_EQ(poller.wait(events, 0), 0u);  // drained: it does not fire again
}

TEST(KqueuePipeWakeTest, ReadinessIsStillReportedBesideTheWakeUp) {
  KqueuePipeWakePoller poller;
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  poller.add(a.get(), 5, Interest::kRead);
  ASSERT_EQ(::write(b.get(), "x", 1), 1);
  poller.wake();
  std::array<Event, 8> events{};
  std::size_t n = 0;
  for (int i = 0; i < 3 && n == 0; ++i) n = poller.wait(events, 1'000'000'000);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(events[0].token, 5u);
  EXPECT_EQ(events[0].flags, kEventReadable);
  poller.remove(a.get());
}

}  // namespace
}  // namespace ringwire
