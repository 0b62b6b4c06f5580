#include "ringwire/timer_queue.h"

namespace ringwire {
namespace {

TimerId make_id(std::uint32_t slot, std::uint32_t generation) {
  return (std::uint64_t{generation} << 32) | slot;
}

}  // namespace

TimerId TimerQueue::add(TimePoint deadline, TimerCallback callback) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.callback = std::move(callback);
  s.live = true;
  heap_.push_back(Entry{deadline, next_sequence_++, slot});
  s.heap_index = static_cast<std::uint32_t>(heap_.size() - 1);
  sift_up(heap_.size() - 1);
  return make_id(slot, s.generation);
}

bool TimerQueue::cancel(TimerId id) {
  const auto slot = static_cast<std::uint32_t>(id & 0xffffffffu);
  const auto generation = static_cast<std::uint32_t>(id >> 32);
  if (id == kNoTimer || slot >= slots_.size()) return false;
  Slot& s = slots_[slot];
  if (!s.live || s.generation != generation) return false;
  remove_at(s.heap_index);
  s.live = false;
  ++s.generation;
  s.callback = nullptr;
  free_slots_.push_back(slot);
  return true;
}

std::size_t TimerQueue::run_due(TimePoint now) {
  std::size_t ran = 0;
  while (!heap_.empty() && heap_.front().deadline <= now) {
    const std::uint32_t slot = heap_.front().slot;
    remove_at(0);
    Slot& s = slots_[slot];
    TimerCallback callback = std::move(s.callback);
    s.callback = nullptr;
    s.live = false;
    ++s.generation;
    free_slots_.push_back(slot);
    callback();  // may add or cancel timers: `s` may be invalid from here on
    ++ran;
  }
  return ran;
}

void TimerQueue::place(std::size_t index, const Entry& entry) {
  heap_[index] = entry;
  slots_[entry.slot].heap_index = static_cast<std::uint32_t>(index);
}

void TimerQueue::sift_up(std::size_t index) {
  const Entry entry = heap_[index];
  while (index > 0) {
    const std::size_t parent = (index - 1) / 2;
    if (!earlier(entry, heap_[parent])) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, entry);
}

void TimerQueue::sift_down(std::size_t index) {
  const Entry entry = heap_[index];
  const std::size_t size = heap_.size();
  while (true) {
    std::size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && earlier(heap_[child + 1], heap_[child])) ++child;
    if (!earlier(heap_[child], entry)) break;
    place(index, heap_[child]);
    index = child;
  }
  place(index, entry);
}

void TimerQueue::remove_at(std::size_t index) {
  const std::size_t last = heap_.size() - 1;
  if (index != last) {
    place(index, heap_[last]);
    heap_.pop_back();
    if (index > 0 && earlier(heap_[index], heap_[(index - 1) / 2])) {
      sift_up(index);
    } else {
      sift_down(index);
    }
  } else {
    heap_.pop_back();
  }
}

}  // namespace ringwire
