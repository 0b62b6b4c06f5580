#pragma once
// OpenLoopSchedule: the fixed send schedule of one worker's connections in an open-loop run.
// Owned by its Worker; loop thread only. Pure arithmetic: no clock, no socket.
//
// The whole run sends one frame every period = 1/rate seconds, connection after connection: the
// connection with global index g (of C) sends its n-th frame at
//     start + (g + n * C) * period.
// Every connection has the same interval C * period and a distinct phase, so the worker's
// connections come due in a fixed cyclic order, frame after frame, and the next one due is always
// at the cursor: collecting everything due is O(frames due), with no heap.
//
// A frame is due at its scheduled time whatever happened before: when the worker wakes late, it
// issues every frame that came due, each stamped with its own scheduled time. Latency is measured
// from that time, so lateness shows as latency rather than being hidden (coordinated omission),
// and nothing is ever sent "early to catch up" with a fresh timestamp.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringwire::load {

class OpenLoopSchedule {
 public:
  // `global_indices`: the global index of each of this worker's connections, ascending.
  OpenLoopSchedule(double rate, std::size_t total_connections,
                   std::vector<std::size_t> global_indices);

  void start(std::int64_t start_ns);
  // The earliest time anything is due (valid after start()).
  std::int64_t next_due_ns() const { return due_ns(cursor_); }

  // Calls issue(local_connection_index, scheduled_ns) for every frame due at or before now_ns,
  // in scheduled order, and returns how many were issued.
  template <typename Issue>
  std::size_t run_due(std::int64_t now_ns, Issue&& issue) {
    // One frame at a time, round-robin: that is exactly the order of the scheduled times.
    std::size_t issued = 0;
    while (!sent_.empty() && due_ns(cursor_) <= now_ns) {
      issue(cursor_, due_ns(cursor_));
      ++sent_[cursor_];
      ++issued;
      cursor_ = cursor_ + 1 == sent_.size() ? 0 : cursor_ + 1;
    }
    return issued;
  }

 private:
  std::int64_t due_ns(std::size_t local) const {
    const long double slot =
        static_cast<long double>(global_[local]) + static_cast<long double>(sent_[local]) * total_;
    return start_ns_ + static_cast<std::int64_t>(slot * period_ns_);
  }

  long double period_ns_;
  long double total_;
  std::vector<std::size_t> global_;
  std::vector<std::uint64_t> sent_;  // frames scheduled so far, per connection
  std::size_t cursor_ = 0;
  std::int64_t start_ns_ = 0;
};

}  // namespace ringwire::load
