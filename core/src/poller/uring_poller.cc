#include "poller/uring_poller.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "ringwire/log.h"
#include "ringwire/stats.h"

namespace ringwire {
namespace {

// A request's user_data, 64 bits:
//   poll:        1 | generation (31) | fd (32)
//   operation:   0 | op tag (7)      | token (56)
//   ignored:     all ones (poll removals, cancels: their completions carry no news)
constexpr std::uint64_t kPollBit = std::uint64_t{1} << 63;
constexpr std::uint64_t kIgnoredCompletion = ~std::uint64_t{0};
constexpr std::uint64_t kTokenMask = (std::uint64_t{1} << kCompletionTokenBits) - 1;

std::uint64_t poll_data(int fd, std::uint32_t generation) {
  return kPollBit | (std::uint64_t{generation & 0x7fffffffu} << 32) |
         static_cast<std::uint32_t>(fd);
}

std::uint64_t op_data(std::uint64_t token, std::uint8_t op) {
  if ((token & ~kTokenMask) != 0 || op >= 0x80) {
    throw std::logic_error("io_uring: token or op tag out of range");
  }
  return (std::uint64_t{op} << kCompletionTokenBits) | token;
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

// The ring's setups, best first: each needs a newer kernel than the next.
constexpr unsigned kSetups[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,  // 6.1
    IORING_SETUP_COOP_TASKRUN,                                                          // 5.19
    0,
};

}  // namespace

UringPoller::UringPoller(unsigned queue_depth, unsigned completion_queue_depth,
                         unsigned buffer_count) {
  int rc = -EINVAL;
  for (const unsigned setup : kSetups) {
    io_uring_params params{};
    params.flags = setup | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = completion_queue_depth;
    rc = ::io_uring_queue_init_params(queue_depth, &ring_, &params);
    if (rc == -EINVAL) {  // SUBMIT_ALL is 5.18: try once more without it
      params = io_uring_params{};
      params.flags = setup | IORING_SETUP_CQSIZE;
      params.cq_entries = completion_queue_depth;
      rc = ::io_uring_queue_init_params(queue_depth, &ring_, &params);
    }
    if (rc == 0) {
      setup_flags_ = params.flags;
      break;
    }
    if (rc != -EINVAL) break;  // not a flag the kernel refused: no setup will do
  }
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init");
  enabled_ = (setup_flags_ & IORING_SETUP_R_DISABLED) == 0;
  // Closing a connection with operations in flight needs a synchronous cancel (6.0): a kernel
  // without it refuses the request as unknown (EINVAL), anything else (here EBADF) means it has it.
  io_uring_sync_cancel_reg probe{};
  probe.fd = -1;
  probe.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
  completions_ = ::io_uring_register_sync_cancel(&ring_, &probe) != -EINVAL;
  // Multishot receives need the provided-buffer ring (5.19) and multishot recv (6.0): a kernel
  // that has the synchronous cancel has both; a refusal (memory, limits) falls back to readiness.
  if (completions_) {
    try {
      buffers_ = std::make_unique<UringBuffers>(ring_, buffer_count);
      receive_limit_ = receive_limit_supported() ? kReceiveLimit : 0;
    } catch (const std::system_error& error) {
      log(LogLevel::kDebug, "io_uring: no provided buffers ({}); readiness form only",
          error.what());
      completions_ = false;
    }
  }
}

UringPoller::~UringPoller() {
  buffers_.reset();  // unregistered while the ring exists
  ::io_uring_queue_exit(&ring_);
}

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

// Limits on a multishot recv (kernel 6.16, liburing 2.3 has no names for them): sqe->len caps what
// one wake-up takes, and sqe->optlen (the union slot liburing 2.3 calls file_index) what the
// whole shot takes before it ends without IORING_CQE_F_MORE. Older kernels refuse either at
// once with EINVAL. Probed once per process on a throwaway ring: a refusal comes back at
// submission; anything else (ENOBUFS, or nothing yet) means the limits hold.
bool UringPoller::receive_limit_supported() {
  static const bool supported = [] {
    io_uring probe{};
    if (::io_uring_queue_init(2, &probe, 0) < 0) return false;
    int pair[2];
    bool refused = true;
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0) {
      io_uring_sqe* sqe = ::io_uring_get_sqe(&probe);
      ::io_uring_prep_recv_multishot(sqe, pair[0], nullptr, kReceiveLimit, 0);
      sqe->file_index = kReceiveLimit;  // optlen
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = UringBuffers::kGroup;
      ::io_uring_submit(&probe);
      io_uring_cqe* cqe = nullptr;
      refused = ::io_uring_peek_cqe(&probe, &cqe) == 0 && cqe->res == -EINVAL;
      ::close(pair[0]);
      ::close(pair[1]);
    }
    ::io_uring_queue_exit(&probe);
    return !refused;
  }();
  return supported;
}

// On the loop thread, before its first submission: it becomes the ring's single issuer, and the
// ring's fd is registered for this thread (io_uring_enter then skips the fd lookup).
void UringPoller::enable() {
  if (enabled_) return;
  enabled_ = true;
  // liburing 2.3 declares io_uring_enable_rings() but does not export it: the raw call.
  if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0) {
    throw std::system_error(errno, std::generic_category(), "io_uring enable rings");
  }
  if (::io_uring_register_ring_fd(&ring_) < 0) {
    log(LogLevel::kDebug, "io_uring: ring fd not registered; going on without");
  }
}

UringPoller::Watch& UringPoller::watch(int fd) {
  const auto index = static_cast<std::size_t>(fd);
  if (index >= watches_.size()) watches_.resize(index + 1);
  return watches_[index];
}

io_uring_sqe* UringPoller::next_sqe() {
  io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {  // the queue is full: hand what is queued to the kernel now
    enable();
    ::io_uring_submit(&ring_);
    sqe = ::io_uring_get_sqe(&ring_);
  }
  if (sqe == nullptr) throw std::system_error(EBUSY, std::generic_category(), "io_uring_get_sqe");
  return sqe;
}

// ---- readiness form ----

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
  if (w.armed) cancel_poll(fd, w);
  queue_arm(fd);
}

void UringPoller::remove(int fd) {
  Watch& w = watch(fd);
  w.interest = Interest::kNone;
  if (w.armed) {
    cancel_poll(fd, w);
    // A pending poll holds a reference to the file: submit the removal now, so the caller's
    // close() really closes the socket (and the peer sees it) at once.
    enable();
    ::io_uring_submit(&ring_);
  }
  ++w.generation;
}

void UringPoller::cancel_poll(int fd, Watch& w) {
  io_uring_sqe* sqe = next_sqe();
  ::io_uring_prep_poll_remove(sqe, poll_data(fd, w.generation));
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

// ---- completion form ----

void UringPoller::recv_multishot(int fd, std::uint64_t token, std::uint8_t op) {
  io_uring_sqe* sqe = next_sqe();
  ::io_uring_prep_recv_multishot(sqe, fd, nullptr, receive_limit_, 0);
  sqe->file_index = receive_limit_;  // optlen: the shot ends after this many bytes (0: never)
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = UringBuffers::kGroup;
  ::io_uring_sqe_set_data64(sqe, op_data(token, op));
}

void UringPoller::sendmsg(int fd, const msghdr& message, int flags, std::uint64_t token,
                          std::uint8_t op) {
  io_uring_sqe* sqe = next_sqe();
  ::io_uring_prep_sendmsg(sqe, fd, &message, static_cast<unsigned>(flags));
  ::io_uring_sqe_set_data64(sqe, op_data(token, op));
}

void UringPoller::accept_multishot(int fd, std::uint64_t token, std::uint8_t op) {
  io_uring_sqe* sqe = next_sqe();
  // No address: the one buffer would be shared by every accept of the shot (the owner asks
  // getpeername() instead).
  ::io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  ::io_uring_sqe_set_data64(sqe, op_data(token, op));
}

void UringPoller::cancel(std::uint64_t token, std::uint8_t op) {
  io_uring_sqe* sqe = next_sqe();
  ::io_uring_prep_cancel64(sqe, op_data(token, op), 0);
  ::io_uring_sqe_set_data64(sqe, kIgnoredCompletion);
}

void UringPoller::cancel_now(int fd) {
  enable();
  // Operations still queued here are unknown to the kernel: hand them over first, so they are
  // cancelled too rather than started later on memory that is gone.
  ::io_uring_submit(&ring_);
  io_uring_sync_cancel_reg reg{};
  reg.fd = fd;
  reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
  reg.timeout.tv_sec = -1;  // wait as long as it takes (socket operations cancel at once)
  reg.timeout.tv_nsec = -1;
  int rc;
  do {
    rc = ::io_uring_register_sync_cancel(&ring_, &reg);
  } while (rc == -EINTR);
  // ENOENT: nothing was in flight (what was has completed already). EEXIST: called off the loop
  // thread (an owner destroyed after its loop thread ended): that thread runs no more task work,
  // so the kernel starts none of those operations again.
  if (rc < 0 && rc != -ENOENT && rc != -EEXIST) {
    throw std::system_error(-rc, std::generic_category(), "io_uring_register_sync_cancel");
  }
}

// ---- the wait ----

std::size_t UringPoller::wait(std::span<Event> out, std::int64_t timeout_ns) {
  enable();
  // The buffers lent to the last batch's handlers go back before anything is submitted.
  if (buffers_) buffers_->publish();
  for (const int fd : to_arm_) {
    Watch& w = watch(fd);
    w.queued = false;
    if (w.armed || w.interest == Interest::kNone) continue;
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_poll_add(sqe, fd, to_poll(w.interest));
    ::io_uring_sqe_set_data64(sqe, poll_data(fd, w.generation));
    w.armed = true;
  }
  to_arm_.clear();

  // The kernel kept completions the queue had no room for: the wait below flushes them (liburing
  // enters with GETEVENTS when it sees the flag). Counted; nothing is lost.
  if (::io_uring_cq_has_overflow(&ring_)) {
    if (overflows_++ == 0) log(LogLevel::kWarn, "io_uring: completion queue overflowed; flushing");
    if (overflow_counter_ != nullptr) overflow_counter_->add();
  }

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
    // A receive's buffer is lent to this dispatch and queued to go back at the next wait, whether
    // or not its registration still lives (a late completion's buffer must return too).
    const std::byte* bytes = nullptr;
    if ((cqe->flags & IORING_CQE_F_BUFFER) != 0 && buffers_) {
      const auto id = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      bytes = buffers_->at(id);
      buffers_->give_back(id);
    }
    if (data == kIgnoredCompletion) continue;
    if ((data & kPollBit) == 0) {
      std::uint32_t flags = kEventCompletion;
      if (cqe->flags & IORING_CQE_F_MORE) flags |= kEventMore;
      out[filled++] = Event{data & kTokenMask, flags, cqe->res,
                            static_cast<std::uint8_t>(data >> kCompletionTokenBits), bytes};
      continue;
    }
    const auto fd = static_cast<int>(data & 0xffffffffu);
    const auto generation = static_cast<std::uint32_t>(data >> 32) & 0x7fffffffu;
    if (static_cast<std::size_t>(fd) >= watches_.size()) continue;
    Watch& w = watches_[static_cast<std::size_t>(fd)];
    if ((w.generation & 0x7fffffffu) != generation) continue;  // cancelled or replaced since
    w.armed = false;
    if (cqe->res == -ECANCELED) continue;
    const std::uint32_t flags =
        cqe->res < 0 ? kEventError : from_poll(static_cast<unsigned>(cqe->res));
    out[filled++] = Event{w.token, flags, 0, 0};
    queue_arm(fd);  // level-triggered: asked again at the next wait while the interest stands
  }
  ::io_uring_cq_advance(&ring_, consumed);
  return filled;
}

}  // namespace ringwire
