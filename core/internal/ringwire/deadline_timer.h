#pragma once
// DeadlineTimer: one loop timer kept at a deadline that moves (a frame session's idle or linger
// deadline), armed again only when the deadline changes. For the native transports, whose loop is
// an EventLoop; loop thread only.

#include <utility>

#include "ringwire/event_loop.h"

namespace ringwire {

class DeadlineTimer {
 public:
  explicit DeadlineTimer(EventLoop& loop) : loop_(loop) {}
  ~DeadlineTimer() { stop(); }
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  // Arms the timer for `deadline` (TimePoint::max(): none) unless it is armed for it already;
  // `on_due` runs once the deadline passes, with the timer disarmed (it may follow() again).
  template <typename OnDue>
  void follow(TimePoint deadline, OnDue on_due) {
    if (deadline == deadline_) return;
    stop();
    deadline_ = deadline;
    if (deadline == TimePoint::max()) return;
    id_ = loop_.add_timer(deadline, [this, on_due = std::move(on_due)]() mutable {
      id_ = kNoTimer;
      deadline_ = TimePoint::max();
      on_due();
    });
  }

  void stop() {
    loop_.cancel_timer(id_);
    id_ = kNoTimer;
    deadline_ = TimePoint::max();
  }

 private:
  EventLoop& loop_;
  TimerId id_ = kNoTimer;
  TimePoint deadline_ = TimePoint::max();
};

}  // namespace ringwire
