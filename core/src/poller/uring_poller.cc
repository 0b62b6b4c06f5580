#include "poller/uring_poller.h"

#include <poll.h>

#include <cerrno>
#include <system_error>

namespace ringwire {
namespace {

// user_data of requests whose completions carry no news (poll removals).
constexpr std::uint64_t kIgnoredCompletion = ~std::uint64_t{0};

std::uint64_t user_data(int fd, std::uint32_t generation) {
  return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

unsigned to_poll(Interest interest) {
  unsigned mask = 0;
  if (has(interest, Interest::kRead)) mask |= POLLIN;
  if (has(interest, Interest::kWrite)) mask |= POLLOUT;
  return mask;
}

std::uint32_t from_poll(unsigned mask) {
  std::uint32_t flags = 0;
  if (mask & POLLIN) flags |= kEventReadable;
  if (mask & POLLOUT) flags |= kEventWritable;
  if (mask & POLLHUP) flags |= kEventHangup;
  if (mask & POLLERR) flags |= kEventError;
  return flags;
}

}  // namespace

UringPoller::UringPoller() {
  const int rc = ::io_uring_queue_init(kQueueDepth, &ring_, 0);
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init");
}

UringPoller::~UringPoller() { ::io_uring_queue_exit(&ring_); }

bool UringPoller::supported() {
  // Probed once per process: a ring's teardown queues work to the probing thread, which can
  // interrupt that thread's next blocking call with EINTR.
  static const bool available = [] {
    io_uring probe{};
    if (::io_uring_queue_init(2, &probe, 0) < 0) return false;
    ::io_uring_queue_exit(&probe);
    return true;
  }();
  return available;
}

UringPoller::Watch& UringPoller::watch(int fd) {
  const auto index = static_cast<std::size_t>(fd);
  if (index >= watches_.size()) watches_.resize(index + 1);
  return watches_[index];
}

io_uring_sqe* UringPoller::next_sqe() {
  io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {  // the queue is full: hand what is queued to the kernel now
    ::io_uring_submit(&ring_);
    sqe = ::io_uring_get_sqe(&ring_);
  }
  if (sqe == nullptr) throw std::system_error(EBUSY, std::generic_category(), "io_uring_get_sqe");
  return sqe;
}

void UringPoller::add(int fd, std::uint64_t token, Interest interest) {
  Watch& w = watch(fd);
  w.token = token;
  w.interest = interest;
  ++w.generation;
  w.armed = false;
  queue_arm(fd);
}

void UringPoller::modify(int fd, std::uint64_t token, Interest interest) {
  Watch& w = watch(fd);
  w.token = token;
  if (w.interest == interest) return;
  w.interest = interest;
  if (w.armed) cancel(fd, w);
  queue_arm(fd);
}

void UringPoller::remove(int fd) {
  Watch& w = watch(fd);
  w.interest = Interest::kNone;
  if (w.armed) {
    cancel(fd, w);
    // A pending poll holds a reference to the file: submit the removal now, so the caller's
    // close() really closes the socket (and the peer sees it) at once.
    ::io_uring_submit(&ring_);
  }
  ++w.generation;
}

void UringPoller::cancel(int fd, Watch& w) {
  io_uring_sqe* sqe = next_sqe();
  ::io_uring_prep_poll_remove(sqe, user_data(fd, w.generation));
  ::io_uring_sqe_set_data64(sqe, kIgnoredCompletion);
  ++w.generation;  // the cancelled poll's -ECANCELED completion is now stale
  w.armed = false;
}

void UringPoller::queue_arm(int fd) {
  Watch& w = watch(fd);
  if (w.queued || w.interest == Interest::kNone) return;
  w.queued = true;
  to_arm_.push_back(fd);
}

std::size_t UringPoller::wait(std::span<Event> out, std::int64_t timeout_ns) {
  for (const int fd : to_arm_) {
    Watch& w = watch(fd);
    w.queued = false;
    if (w.armed || w.interest == Interest::kNone) continue;
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_poll_add(sqe, fd, to_poll(w.interest));
    ::io_uring_sqe_set_data64(sqe, user_data(fd, w.generation));
    w.armed = true;
  }
  to_arm_.clear();

  io_uring_cqe* cqe = nullptr;
  int rc;
  if (timeout_ns < 0) {
    rc = ::io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec timeout{};
    timeout.tv_sec = timeout_ns / 1'000'000'000;
    timeout.tv_nsec = timeout_ns % 1'000'000'000;
    rc = ::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr);
  }
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
    throw std::system_error(-rc, std::generic_category(), "io_uring_submit_and_wait");
  }

  std::size_t filled = 0;
  unsigned consumed = 0;
  unsigned head;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (filled == out.size()) break;  // the rest wait for the next turn
    ++consumed;
    const std::uint64_t data = ::io_uring_cqe_get_data64(cqe);
    if (data == kIgnoredCompletion) continue;
    const auto fd = static_cast<int>(data & 0xffffffffu);
    const auto generation = static_cast<std::uint32_t>(data >> 32);
    if (static_cast<std::size_t>(fd) >= watches_.size()) continue;
    Watch& w = watches_[static_cast<std::size_t>(fd)];
    if (w.generation != generation) continue;  // an arm cancelled or replaced since
    w.armed = false;
    if (cqe->res == -ECANCELED) continue;
    const std::uint32_t flags =
        cqe->res < 0 ? kEventError : from_poll(static_cast<unsigned>(cqe->res));
    out[filled++] = Event{w.token, flags, 0};
    queue_arm(fd);  // level-triggered: asked again at the next wait while the interest stands
  }
  ::io_uring_cq_advance(&ring_, consumed);
  return filled;
}

}  // namespace ringwire
