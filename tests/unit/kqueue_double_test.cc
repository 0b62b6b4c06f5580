// The kqueue test double (tests/kqueue_double) keeps the BSD rules that the kqueue poller relies
// on: each test is one rule of kevent_double.cc, over real loopback TCP sockets.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "ringwire/unique_fd.h"

namespace ringwire {
namespace {

struct kevent change(int fd, std::int16_t filter, std::uint16_t flags, std::uint64_t udata = 0,
                     std::uint32_t fflags = 0) {
  struct kevent c {};
  c.ident = static_cast<std::uintptr_t>(fd);
  c.filter = filter;
  c.flags = flags;
  c.fflags = fflags;
  c.udata = reinterpret_cast<void*>(static_cast<std::uintptr_t>(udata));
  return c;
}

// A connected loopback TCP pair, both ends non-blocking.
struct TcpPair {
  UniqueFd ours;
  UniqueFd peer;
};

TcpPair tcp_pair() {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  EXPECT_EQ(::listen(listener.get(), 1), 0);
  EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  TcpPair pair;
  pair.peer.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::connect(pair.peer.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  pair.ours.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  EXPECT_TRUE(pair.ours.valid());
  return pair;
}

// Applies `changes` (no events collected); returns kevent()'s result.
int apply(int kq, std::vector<struct kevent> changes) {
  return ::kevent(kq, changes.data(), static_cast<int>(changes.size()), nullptr, 0, nullptr);
}

// Collects events, waiting at most `ms`.
std::vector<struct kevent> collect(int kq, long ms, int room = 16) {
  std::vector<struct kevent> events(static_cast<std::size_t>(room));
  const timespec timeout{ms / 1000, (ms % 1000) * 1'000'000};
  const int n = ::kevent(kq, nullptr, 0, events.data(), room, &timeout);
  EXPECT_GE(n, 0) << std::strerror(errno);
  events.resize(static_cast<std::size_t>(std::max(n, 0)));
  return events;
}

const struct kevent* find(const std::vector<struct kevent>& events, std::int16_t filter) {
  for (const auto& e : events) {
    if (e.filter == filter) return &e;
  }
  return nullptr;
}

TEST(KqueueDoubleTest, PeerShutdownSetsEofOnTheReadFilterWithTheBytesStillReadable) {
  UniqueFd kq(::kqueue());
  ASSERT_TRUE(kq.valid());
  TcpPair pair = tcp_pair();
  ASSERT_EQ(apply(kq.get(), {change(pair.ours.get(), EVFILT_READ, EV_ADD, 7)}), 0);
  ASSERT_EQ(::send(pair.peer.get(), "hello", 5, 0), 5);
  ASSERT_EQ(::shutdown(pair.peer.get(), SHUT_WR), 0);
  const auto events = collect(kq.get(), 5000);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].filter, EVFILT_READ);
  EXPECT_TRUE(events[0].flags & EV_EOF);
  EXPECT_EQ(events[0].data, 5);
  EXPECT_EQ(events[0].fflags, 0u);  // a clean shutdown: no error
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(events[0].udata), 7u);
  // Level-triggered: still reported while so.
  EXPECT_EQ(collect(kq.get(), 0).size(), 1u);
}

TEST(KqueueDoubleTest, ReadAndWriteFiltersAreIndependentKnotes) {
  UniqueFd kq(::kqueue());
  TcpPair pair = tcp_pair();
  const int fd = pair.ours.get();
  ASSERT_EQ(
      apply(kq.get(), {change(fd, EVFILT_READ, EV_ADD, 1), change(fd, EVFILT_WRITE, EV_ADD, 2)}),
      0);
  auto events = collect(kq.get(), 5000);
  ASSERT_EQ(events.size(), 1u);  // writable, nothing to read
  EXPECT_EQ(events[0].filter, EVFILT_WRITE);
  EXPECT_GT(events[0].data, 0);  // send space
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(events[0].udata), 2u);

  ASSERT_EQ(::send(pair.peer.get(), "x", 1, 0), 1);
  ASSERT_EQ(apply(kq.get(), {change(fd, EVFILT_WRITE, EV_DISABLE)}), 0);
  events = collect(kq.get(), 5000);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].filter, EVFILT_READ);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(events[0].udata), 1u);

  // Deleting the read knote leaves the (re-enabled) write knote as it was.
  ASSERT_EQ(
      apply(kq.get(), {change(fd, EVFILT_READ, EV_DELETE), change(fd, EVFILT_WRITE, EV_ENABLE)}),
      0);
  events = collect(kq.get(), 5000);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].filter, EVFILT_WRITE);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(events[0].udata), 2u);
}

TEST(KqueueDoubleTest, ResetSetsEofWithTheErrorOnBothFilters) {
  UniqueFd kq(::kqueue());
  TcpPair pair = tcp_pair();
  const int fd = pair.ours.get();
  ASSERT_EQ(apply(kq.get(), {change(fd, EVFILT_READ, EV_ADD), change(fd, EVFILT_WRITE, EV_ADD)}),
            0);
  const linger reset{1, 0};
  ASSERT_EQ(::setsockopt(pair.peer.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  pair.peer.reset();  // RST
  std::vector<struct kevent> events;
  // Writable before the reset arrives; wait for the EOF (bounded: each collect waits ≤ 5 s).
  for (int i = 0; i < 100 && (events.empty() || !(events[0].flags & EV_EOF)); ++i) {
    events = collect(kq.get(), 5000);
  }
  const struct kevent* read = find(events, EVFILT_READ);
  const struct kevent* write = find(events, EVFILT_WRITE);
  ASSERT_NE(read, nullptr);
  ASSERT_NE(write, nullptr);
  EXPECT_TRUE(read->flags & EV_EOF);
  EXPECT_TRUE(write->flags & EV_EOF);
  EXPECT_EQ(read->fflags, static_cast<std::uint32_t>(ECONNRESET));
  EXPECT_EQ(write->fflags, static_cast<std::uint32_t>(ECONNRESET));
}

TEST(KqueueDoubleTest, UserTriggerFromAnotherThreadWakesAWaitAndClearResetsIt) {
  UniqueFd kq(::kqueue());
  ASSERT_EQ(apply(kq.get(), {change(42, EVFILT_USER, EV_ADD | EV_CLEAR, 9)}), 0);
  std::thread trigger(
      [&] { EXPECT_EQ(apply(kq.get(), {change(42, EVFILT_USER, 0, 0, NOTE_TRIGGER)}), 0); });
  std::vector<struct kevent> events(4);
  // No timeout: only the trigger can end this wait.
  const int n = ::kevent(kq.get(), nullptr, 0, events.data(), 4, nullptr);
  trigger.join();
  ASSERT_EQ(n, 1);
  EXPECT_EQ(events[0].filter, EVFILT_USER);
  EXPECT_EQ(events[0].ident, 42u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(events[0].udata), 9u);
  EXPECT_TRUE(collect(kq.get(), 0).empty());  // EV_CLEAR: reported once per trigger
}

TEST(KqueueDoubleTest, AFailedChangeIsReportedInTheEventListAndNoEventsAreCollected) {
  UniqueFd kq(::kqueue());
  TcpPair pair = tcp_pair();
  const int fd = pair.ours.get();
  ASSERT_EQ(apply(kq.get(), {change(fd, EVFILT_WRITE, EV_ADD)}), 0);  // ready at once
  std::vector<struct kevent> changes{change(fd, EVFILT_READ, EV_DELETE, 5),
                                     change(fd, EVFILT_READ, EV_ADD | EV_RECEIPT, 6)};
  std::vector<struct kevent> events(4);
  ASSERT_EQ(::kevent(kq.get(), changes.data(), 2, events.data(), 4, nullptr), 2);
  EXPECT_EQ(events[0].flags, EV_ERROR);
  EXPECT_EQ(events[0].data, ENOENT);  // no read knote to delete
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(events[0].udata), 5u);
  EXPECT_EQ(events[1].flags, EV_ERROR);
  EXPECT_EQ(events[1].data, 0);  // a receipt: it worked
  // With no room to report it, the failure is kevent()'s own.
  errno = 0;
  EXPECT_EQ(apply(kq.get(), {change(fd + 1000, EVFILT_READ, EV_ADD)}), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(KqueueDoubleTest, CloseDropsTheKnotesEvenWhenTheNumberIsReused) {
  UniqueFd kq(::kqueue());
  TcpPair first = tcp_pair();
  TcpPair second = tcp_pair();
  const int number = first.ours.get();
  ASSERT_EQ(apply(kq.get(), {change(number, EVFILT_READ, EV_ADD)}), 0);
  first.ours.reset();
  UniqueFd reused(::dup2(second.ours.get(), number));  // another socket, the same number
  ASSERT_EQ(reused.get(), number);
  ASSERT_EQ(::send(second.peer.get(), "x", 1, 0), 1);
  EXPECT_TRUE(collect(kq.get(), 10).empty());  // the old knote did not carry over
  errno = 0;
  EXPECT_EQ(apply(kq.get(), {change(number, EVFILT_READ, EV_ENABLE)}), -1);
  EXPECT_EQ(errno, ENOENT);  // open, but its knote went with the close
  reused.reset();
  errno = 0;
  EXPECT_EQ(apply(kq.get(), {change(number, EVFILT_READ, EV_DELETE)}), -1);
  EXPECT_EQ(errno, EBADF);  // not open
}

}  // namespace
}  // namespace ringwire
