#include "ringwire/loop_bookkeeping.h"

#include "ringwire/log.h"

namespace ringwire {

// ---- LoopGroup ----

void LoopGroup::drain(Clock::duration timeout, std::function<void()> done) {
  drained_callback_ = std::move(done);
  if (balance_ == Balance::kExact && !loops_.empty()) {
    loops_.front()->drain(timeout);  // which drains the others once its listener is closed
    return;
  }
  for (LoopBookkeeping* loop : loops_) loop->drain(timeout);
}

// The loop with the lowest load (ties: the asking loop, then the lowest index). O(loops), on
// accept only. A hand-off counts from the moment it is posted, so a burst of accepts is spread
// even before the other loops have run their adoption tasks.
LoopBookkeeping& LoopGroup::least_loaded(LoopBookkeeping& asking) {
  LoopBookkeeping* best = &asking;
  std::uint64_t best_load = asking.load();
  for (LoopBookkeeping* loop : loops_) {
    if (const std::uint64_t load = loop->load(); load < best_load) {
      best = loop;
      best_load = load;
    }
  }
  return *best;
}

void LoopGroup::loop_drained() {
  if (loops_drained_.fetch_add(1) + 1 == loops_.size() && drained_callback_) drained_callback_();
}

// ---- LoopBookkeeping ----

void LoopBookkeeping::on_accepted(UniqueFd socket, const SocketAddress& peer) {
  const std::uint64_t limit = group_.max_connections_;
  if (limit != 0 && group_.open_.load(std::memory_order_relaxed) >= limit) {
    refusals_.refuse(limit, peer, loop_.now());
    return;  // `socket` closes here
  }
  group_.open_.fetch_add(1, std::memory_order_relaxed);
  LoopBookkeeping& target = group_.balance_ == Balance::kExact ? group_.least_loaded(*this) : *this;
  if (&target == this) return adopt(std::move(socket), peer);
  // Hand over through the target loop's task queue; the descriptor travels owned (a libuv handle
  // cannot change loops, but a socket can). In flight until adopted, and counted in its load:
  // adopted first, then uncounted, so the load never dips below the truth.
  target.in_flight_.fetch_add(1, std::memory_order_relaxed);
  auto handed = std::make_shared<UniqueFd>(std::move(socket));
  target.loop_.post([&target, handed, peer] {
    target.adopt(std::move(*handed), peer);
    target.in_flight_.fetch_sub(1, std::memory_order_relaxed);
  });
}

void LoopBookkeeping::adopt(UniqueFd socket, const SocketAddress& peer) {
  stats_.connections_accepted.add();
  stats_.connections_open.add();
  host_.open_connection(std::move(socket), peer);
  if (draining_) connections_.begin_drain_newest();  // handed over just as the drain began
}

void LoopBookkeeping::on_closed() {
  group_.open_.fetch_sub(1, std::memory_order_relaxed);
  if (draining_ && connections_.size() == 0) finish_drain();
}

void LoopBookkeeping::drain(Clock::duration timeout) {
  loop_.post([this, timeout] {
    draining_ = true;
    host_.stop_listening();
    // With exact balance the other loops drain only once the first one's listener is closed:
    // every hand-off was posted before their drain task, so one in flight is adopted, then drained.
    if (group_.balance_ == Balance::kExact && group_.loops_.front() == this) {
      for (LoopBookkeeping* other : group_.loops_) {
        if (other != this) other->drain(timeout);
      }
    }
    drain_timer_ = loop_.add_timer_after(timeout, [this] { cut_off(); });
    connections_.begin_drain_all();  // may close some at once
    if (connections_.size() == 0) finish_drain();
  });
}

void LoopBookkeeping::cut_off() {
  drain_timer_ = kNoTimer;
  if (const std::size_t busy = connections_.size(); busy != 0) {
    log(LogLevel::kWarn, "drain timeout: cutting off {} busy connection(s) on this loop", busy);
  }
  connections_.abort_all(CloseReason::kDrainTimeout);
}

void LoopBookkeeping::finish_drain() {
  if (drained_) return;
  drained_ = true;
  loop_.cancel_timer(drain_timer_);
  drain_timer_ = kNoTimer;
  group_.loop_drained();
}

}  // namespace ringwire
