#pragma once
// KqueuePoller: the BSD/macOS readiness backend. Owns its kqueue descriptor; loop thread only,
// except wake() (any thread). On Linux it is built against the test double in tests/kqueue_double
// and names itself "kqueue(test-double)": it has never run on a real BSD or macOS.
//
// Level-triggered (no EV_CLEAR), as the epoll backend is and for the same reason: a connection
// that stops reading after its per-wake-up budget or for backpressure is reported again next turn,
// with no "still readable" list to keep.
//
// Each descriptor gets a read and a write knote at add() (the unwanted one disabled); modify()
// only enables and disables them, and those changes wait in a changelist for the kevent() that
// waits — the frequent ones (a connection toggling write interest) cost no syscall of their own.
// add() and remove() go to the kernel at once, as epoll_ctl does: add() so that a refusal throws
// where the caller can handle it, remove() so it is done before the caller's close() — close()
// drops the knotes, and a delete queued past it would fail with EBADF, or worse, hit a new
// descriptor given the same number. Both pass EV_RECEIPT, so the kernel reports each change's
// result and collects no events (none can be lost), and remove() drops the fd's queued changes.
//
// EOF and errors come in each event's flags. Read knote: EV_EOF means the peer shut its side; it
// is reported as readable, and recv() returning 0 tells the owner, as with epoll (no EPOLLRDHUP).
// Write knote: EV_EOF means nothing more can be sent (the peer reset or is gone): kEventHangup,
// what is owed can no longer be delivered. Either with an error in fflags: kEventError too.
// Unlike epoll, kqueue reports EOF only on an enabled knote: a registration with no interest
// learns of a reset when it next reads or writes, or when its timer fires.

// <sys/types.h> first, as older BSDs' <sys/event.h> wants.
// clang-format off
#include <sys/types.h>
#include <sys/event.h>
// clang-format on

#include <vector>

#include "ringwire/poller.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

class KqueuePoller final : public Poller {
 public:
  KqueuePoller();
  std::string_view name() const override;
  void add(int fd, std::uint64_t token, Interest interest) override;
  void modify(int fd, std::uint64_t token, Interest interest) override;
  void remove(int fd) override;
  std::size_t wait(std::span<Event> out, std::int64_t timeout_ns) override;
  bool wakes() const override { return true; }
  void wake() override;

 private:
  // Applies `changes` now, each with EV_RECEIPT; fills `results` (one per change).
  void apply_now(std::span<struct kevent> changes, std::span<struct kevent> results);
  // A receipt or error entry: a failure other than "already gone" is kept for the next wait().
  void note_failure(const struct kevent& entry);

  UniqueFd kq_;
#ifndef EVFILT_USER
  UniqueFd wake_read_;  // the pipe that stands in for EVFILT_USER where a platform lacks it
  UniqueFd wake_write_;
#endif
  std::vector<struct kevent> changes_;  // modify()'s, flushed by the next wait()
  std::vector<struct kevent> ready_;    // wait()'s event list
  std::vector<std::uint64_t> refused_;  // tokens whose queued change the kernel refused
};

}  // namespace ringwire
