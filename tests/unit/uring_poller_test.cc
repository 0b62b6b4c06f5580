// UringPoller's own edges, on a ring built small on purpose: a completion queue that overflows
// must lose nothing and never hang, and the overflow is counted where the loop's stats want it.
// Skipped where this kernel has no io_uring completion form.

#include "poller/uring_poller.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <vector>

#include "ringwire/stats.h"
#include "ringwire/unique_fd.h"

namespace ringwire {
namespace {

TEST(UringPollerTest, AnOverflowedCompletionQueueIsFlushedCountedAndLosesNothing) {
  if (!UringPoller::supported()) GTEST_SKIP() << "no io_uring here";
  // 8 completion slots; 64 sockets' receives complete in the same wait.
  UringPoller poller(/*queue_depth=*/8, /*completion_queue_depth=*/8);
  if (!poller.completions()) GTEST_SKIP() << "io_uring without its completion form here";
  Counter overflows;
  poller.count_overflows_in(&overflows);
  constexpr std::size_t kSockets = 64;
  std::vector<UniqueFd> ours, theirs;
  for (std::size_t i = 0; i < kSockets; ++i) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
    ours.emplace_back(pair[0]);
    theirs.emplace_back(pair[1]);
    poller.recv_multishot(pair[0], /*token=*/i, /*op=*/1);
  }
  std::array<Event, 4> events;
  poller.wait(events, 0);  // submitted: every receive waits in the kernel
  for (auto& fd : theirs) ASSERT_EQ(::write(fd.get(), "x", 1), 1);
  std::vector<int> bytes(kSockets, 0);
  std::size_t total = 0;
  for (int turns = 0; turns < 1000 && total < kSockets; ++turns) {
    const std::size_t n = poller.wait(events, 10'000'000);  // 10 ms: a hang fails, not blocks
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(events[i].result, 1) << "token " << events[i].token;
      ASSERT_EQ(*events[i].data, std::byte{'x'});
      ++bytes[events[i].token];
      ++total;
    }
  }
  EXPECT_EQ(total, kSockets);
  for (std::size_t i = 0; i < kSockets; ++i) EXPECT_EQ(bytes[i], 1) << "socket " << i;
  EXPECT_GT(poller.overflows(), 0u) << "the queue never overflowed: the test tests nothing";
  EXPECT_EQ(overflows.get(), poller.overflows());
  for (auto& fd : ours) poller.cancel_now(fd.get());
}

// Four buffers, and 64 KiB arriving at a time: one wait's receives run them dry (with 1,024 that
// takes more arrivals in one wait than this kernel runs: liburing enters to run them only once
// the loop has taken every completion, which gives the buffers back). The receive then ends with
// ENOBUFS (no kEventMore); armed again it goes on, and every byte arrives once, in order.
TEST(UringPollerTest, AReceiveThatRanOutOfBuffersGoesOnWhenArmedAgainLosingNothing) {
  if (!UringPoller::supported()) GTEST_SKIP() << "no io_uring here";
  UringPoller poller(UringPoller::kQueueDepth, UringPoller::kCompletionQueueDepth,
                     /*buffer_count=*/4);
  if (!poller.completions()) GTEST_SKIP() << "io_uring without its completion form here";
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd ours(pair[0]), theirs(pair[1]);
  const int big = 4 << 20;
  ::setsockopt(theirs.get(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  ::setsockopt(ours.get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  constexpr std::size_t kTotal = 4u << 20;
  const auto pattern = [](std::size_t i) {
    return static_cast<std::byte>((i * 7 + i / 251) & 0xff);
  };
  poller.recv_multishot(ours.get(), /*token=*/1, /*op=*/1);
  std::array<Event, 64> events;
  std::size_t written = 0, received = 0, ran_dry = 0;
  std::vector<std::byte> chunk(64 * 1024);
  for (int turns = 0; turns < 200000 && received < kTotal; ++turns) {
    while (written < kTotal) {
      const std::size_t n = std::min(chunk.size(), kTotal - written);
      for (std::size_t i = 0; i < n; ++i) chunk[i] = pattern(written + i);
      const ssize_t w = ::send(theirs.get(), chunk.data(), n, MSG_DONTWAIT);
      if (w <= 0) break;
      written += static_cast<std::size_t>(w);
    }
    const std::size_t n = poller.wait(events, 10'000'000);
    for (std::size_t e = 0; e < n; ++e) {
      const Event& event = events[e];
      if (event.result == -ENOBUFS) {
        ASSERT_FALSE(event.flags & kEventMore);
        ++ran_dry;
        poller.recv_multishot(ours.get(), 1, 1);
        continue;
      }
      ASSERT_GT(event.result, 0);
      for (int i = 0; i < event.result; ++i) {
        ASSERT_EQ(event.data[i], pattern(received)) << "byte " << received;
        ++received;
      }
      // A shot that reached its limit (kReceiveLimit, where the kernel has it) ends here too.
      if ((event.flags & kEventMore) == 0) poller.recv_multishot(ours.get(), 1, 1);
    }
  }
  EXPECT_EQ(received, kTotal);
  EXPECT_GT(ran_dry, 0u) << "the buffers never ran dry: the test tests nothing";
  poller.cancel_now(ours.get());
}

}  // namespace
}  // namespace ringwire
