#pragma once
// EpollPoller: the Linux readiness backend. Level-triggered, on purpose: a connection that stops
// reading after its per-wake-up budget (fairness) or because of backpressure is simply reported
// again next turn, with no "still readable" list to keep; the price, an epoll_ctl to add or drop
// interest, is paid only when interest changes, which EventLoop remembers and skips otherwise.
// Owns its epoll descriptor; loop thread only.

#include <sys/epoll.h>

#include <array>

#include "ringwire/event_loop.h"
#include "ringwire/poller.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

class EpollPoller final : public Poller {
 public:
  EpollPoller();
  std::string_view name() const override { return "epoll"; }
  void add(int fd, std::uint64_t token, Interest interest) override;
  void modify(int fd, std::uint64_t token, Interest interest) override;
  void remove(int fd) override;
  std::size_t wait(std::span<Event> out, std::int64_t timeout_ns) override;

 private:
  void control(int op, int fd, std::uint64_t token, Interest interest);

  UniqueFd epoll_;
  std::array<epoll_event, EventLoop::kMaxEventsPerWait> ready_{};
};

}  // namespace ringwire
