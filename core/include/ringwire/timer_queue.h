#pragma once
// TimerQueue: one loop's timers. A binary min-heap of deadlines with an insertion-order tie-break,
// plus a slot table so a timer is cancelled by id in O(log N). Loop thread only.
//
// Cost: add and cancel O(log N), the next deadline O(1); about 64 bytes per live timer, so 100,000
// idle timeouts cost ~6 MiB and ~17 comparisons per operation. Idle timeouts stay cheap because a
// connection does not re-arm per frame: it records its last progress and re-arms only when its
// timer fires early (see Connection).

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace ringwire {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using TimerCallback = std::function<void()>;

// A slot index and a generation: a stale id (its timer fired or was cancelled) is recognised.
using TimerId = std::uint64_t;
inline constexpr TimerId kNoTimer = 0;

class TimerQueue {
 public:
  TimerId add(TimePoint deadline, TimerCallback callback);
  // Cancels a pending timer; a stale or zero id is ignored. Returns whether one was cancelled.
  bool cancel(TimerId id);
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  // The earliest deadline; only when !empty().
  TimePoint next_deadline() const { return heap_.front().deadline; }
  // Runs every timer due at `now`, earliest first (callbacks may add or cancel timers).
  // Returns how many ran.
  std::size_t run_due(TimePoint now);

 private:
  struct Entry {
    TimePoint deadline;
    std::uint64_t sequence;  // insertion order, so equal deadlines fire first-in first-out
    std::uint32_t slot;
  };
  struct Slot {
    TimerCallback callback;
    std::uint32_t heap_index = 0;
    std::uint32_t generation = 1;
    bool live = false;
  };

  static bool earlier(const Entry& a, const Entry& b) {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence;
  }
  void place(std::size_t index, const Entry& entry);
  void sift_up(std::size_t index);
  void sift_down(std::size_t index);
  void remove_at(std::size_t index);

  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace ringwire
