#pragma once
// UringPoller: the io_uring backend, in both forms. Owns its ring; loop thread only (the thread
// that first waits becomes the ring's only submitter).
//
// Completion form (what the server's connections and listeners use, see uring_connection.h and
// listener.h): a multishot recv into the loop's provided buffers (uring_buffers.h), sendmsg,
// multishot accept, cancel, each one SQE tagged with the
// registration's token and the caller's op tag, each CQE reported as one Event (a receive's bytes
// at Event::data, lent for that dispatch only). Every SQE queued during a turn rides the next
// wait's single io_uring_enter, which also waits.
//
// Readiness form (the loop's waker, the load generator's connections): each
// registration is one one-shot IORING_OP_POLL_ADD, re-armed after each completion for the next
// wait, which gives the same level-triggered behaviour as EpollPoller.
//
// The ring: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (completions are run only when
// the loop waits: no interrupts of the loop thread, batched task work) where the kernel has them,
// falling back to COOP_TASKRUN, then to none; SUBMIT_ALL so one bad SQE does not hold back the
// others. The ring starts disabled and is enabled (and its fd registered) by the loop thread's
// first wait, since a single-issuer ring belongs to the thread that enables it.

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "poller/uring_buffers.h"
#include "ringwire/poller.h"

namespace ringwire {

class UringPoller final : public Poller {
 public:
  // Submission queue entries: room for one operation per busy descriptor per turn before an early
  // submit is needed.
  static constexpr unsigned kQueueDepth = 4096;
  // Completion queue entries: a connection has at most two operations in flight (a receive and a
  // send) and a cancel, so this many hold every completion of ~10,000 busy connections on one loop
  // without overflow. Past that the kernel keeps the surplus (IORING_FEAT_NODROP) and the next
  // wait flushes it: counted in overflows() (and LoopStats::uring_cq_overflows), never lost.
  // 16 bytes each.
  static constexpr unsigned kCompletionQueueDepth = 32768;

  // Throws std::system_error when io_uring is unavailable (old kernel, seccomp). The sizes are
  // for tests (a tiny completion queue overflows at once, a few buffers run dry at once).
  explicit UringPoller(unsigned queue_depth = kQueueDepth,
                       unsigned completion_queue_depth = kCompletionQueueDepth,
                       unsigned buffer_count = UringBuffers::kCount);
  ~UringPoller() override;
  UringPoller(const UringPoller&) = delete;
  UringPoller& operator=(const UringPoller&) = delete;

  std::string_view name() const override { return "io_uring"; }
  void add(int fd, std::uint64_t token, Interest interest) override;
  void modify(int fd, std::uint64_t token, Interest interest) override;
  void remove(int fd) override;
  std::size_t wait(std::span<Event> out, std::int64_t timeout_ns) override;

  bool completions() const override { return completions_; }
  void recv_multishot(int fd, std::uint64_t token, std::uint8_t op) override;
  void sendmsg(int fd, const msghdr& message, int flags, std::uint64_t token,
               std::uint8_t op) override;
  void accept_multishot(int fd, std::uint64_t token, std::uint8_t op) override;
  void cancel(std::uint64_t token, std::uint8_t op) override;
  void cancel_now(int fd) override;
  void count_overflows_in(Counter* counter) override { overflow_counter_ = counter; }

  // What one multishot receive takes before it ends (its owner arms it again), where the kernel
  // can limit it (6.16): bytes the session has no room for wait in the connection until the
  // receive is stopped, and without a limit one wait's task work can take a stalled peer's whole
  // socket buffer (bench/RESULTS.md: 100 stalled peers, +37-70 MiB of heap unlimited).
  static constexpr unsigned kReceiveLimit = 64 * 1024;

  // Whether this kernel lets the process use io_uring (the chooser lists the backend only then).
  static bool supported();
  static bool receive_limit_supported();
  // The setup flags the kernel accepted (tests and the ready line may report them).
  unsigned setup_flags() const { return setup_flags_; }
  // Waits that found the completion queue overflowed (see kCompletionQueueDepth).
  std::uint64_t overflows() const { return overflows_; }

 private:
  struct Watch {
    std::uint64_t token = 0;
    Interest interest = Interest::kNone;
    std::uint32_t generation = 0;  // in each poll's user_data: a completion of an old arm is stale
    bool armed = false;            // a poll request is in the kernel
    bool queued = false;           // listed in to_arm_
  };

  void enable();
  io_uring_sqe* next_sqe();
  void cancel_poll(int fd, Watch& watch);
  void queue_arm(int fd);
  Watch& watch(int fd);

  io_uring ring_{};
  unsigned setup_flags_ = 0;
  bool enabled_ = false;
  bool completions_ = false;
  unsigned receive_limit_ = 0;  // kReceiveLimit where the kernel takes it
  std::uint64_t overflows_ = 0;
  Counter* overflow_counter_ = nullptr;
  std::vector<Watch> watches_;  // indexed by descriptor: dense, like the kernel's own table
  std::vector<int> to_arm_;
  std::unique_ptr<UringBuffers> buffers_;  // completion form only
};

}  // namespace ringwire
