#include "poller/epoll_poller.h"

#include <cerrno>
#include <ctime>
#include <system_error>

#include "poller/wait_timeout.h"

namespace ringwire {
namespace {

std::uint32_t to_epoll(Interest interest) {
  // No EPOLLRDHUP: level-triggered, it would fire on every wait while a half-closed peer's
  // connection has reading paused. recv() returning 0 tells us the same when we do read.
  std::uint32_t bits = 0;
  if (has(interest, Interest::kRead)) bits |= EPOLLIN;
  if (has(interest, Interest::kWrite)) bits |= EPOLLOUT;
  return bits;
}

std::uint32_t from_epoll(std::uint32_t bits) {
  std::uint32_t flags = 0;
  if (bits & EPOLLIN) flags |= kEventReadable;
  if (bits & EPOLLOUT) flags |= kEventWritable;
  if (bits & EPOLLHUP) flags |= kEventHangup;
  if (bits & EPOLLERR) flags |= kEventError;
  return flags;
}

}  // namespace

EpollPoller::EpollPoller() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

void EpollPoller::control(int op, int fd, std::uint64_t token, Interest interest) {
  epoll_event event{};
  event.events = to_epoll(interest);
  event.data.u64 = token;
  if (::epoll_ctl(epoll_.get(), op, fd, &event) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
}

void EpollPoller::add(int fd, std::uint64_t token, Interest interest) {
  control(EPOLL_CTL_ADD, fd, token, interest);
}

void EpollPoller::modify(int fd, std::uint64_t token, Interest interest) {
  control(EPOLL_CTL_MOD, fd, token, interest);
}

void EpollPoller::remove(int fd) {
  // ENOENT/EBADF: the fd is already gone from the set; nothing to undo.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

std::size_t EpollPoller::wait(std::span<Event> out, std::int64_t timeout_ns) {
  timespec timeout{};
  const int capacity = static_cast<int>(std::min(out.size(), ready_.size()));
  // epoll_pwait2 takes a nanosecond timeout: open-loop schedules need better than epoll_wait's ms.
  const int n = ::epoll_pwait2(epoll_.get(), ready_.data(), capacity,
                               wait_timeout(timeout_ns, timeout), nullptr);
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw std::system_error(errno, std::generic_category(), "epoll_pwait2");
  }
  for (int i = 0; i < n; ++i) {
    out[static_cast<std::size_t>(i)] =
        Event{ready_[static_cast<std::size_t>(i)].data.u64,
              from_epoll(ready_[static_cast<std::size_t>(i)].events), 0};
  }
  return static_cast<std::size_t>(n);
}

}  // namespace ringwire
