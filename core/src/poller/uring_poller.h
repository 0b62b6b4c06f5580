#pragma once
// UringPoller: the io_uring backend, today in readiness form. Each registration is one one-shot
// IORING_OP_POLL_ADD; when it completes the registration is re-armed for the next wait, which
// gives the same level-triggered behaviour as EpollPoller (so the loop and the connections see no
// difference), and every arm, re-arm and interest change rides the wait's single io_uring_enter
// instead of costing an epoll_ctl each. A completion-mode step (recv/send submitted into the
// rings, Event::result carrying the byte count) can grow from here without changing the seam.
// Owns its ring; loop thread only.

#include <liburing.h>

#include <cstdint>
#include <vector>

#include "ringwire/poller.h"

namespace ringwire {

class UringPoller final : public Poller {
 public:
  // Submission/completion queue entries: room for one poll per busy descriptor per turn before
  // an early submit is needed (the loop takes at most kMaxEventsPerWait completions per turn).
  static constexpr unsigned kQueueDepth = 4096;

  UringPoller();  // throws std::system_error when io_uring is unavailable (old kernel, seccomp)
  ~UringPoller() override;
  UringPoller(const UringPoller&) = delete;
  UringPoller& operator=(const UringPoller&) = delete;

  std::string_view name() const override { return "io_uring"; }
  void add(int fd, std::uint64_t token, Interest interest) override;
  void modify(int fd, std::uint64_t token, Interest interest) override;
  void remove(int fd) override;
  std::size_t wait(std::span<Event> out, std::int64_t timeout_ns) override;

  // Whether this kernel lets the process use io_uring (the chooser lists the backend only then).
  static bool supported();

 private:
  struct Watch {
    std::uint64_t token = 0;
    Interest interest = Interest::kNone;
    std::uint32_t generation = 0;  // in each poll's user_data: a completion of an old arm is stale
    bool armed = false;            // a poll request is in the kernel
    bool queued = false;           // listed in to_arm_
  };

  io_uring_sqe* next_sqe();
  void cancel(int fd, Watch& watch);
  void queue_arm(int fd);
  Watch& watch(int fd);

  io_uring ring_{};
  std::vector<Watch> watches_;  // indexed by descriptor: dense, like the kernel's own table
  std::vector<int> to_arm_;
};

}  // namespace ringwire
