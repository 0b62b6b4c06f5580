#include "ringwire/ring_pool.h"

#include <bit>
#include <system_error>

namespace ringwire {

std::size_t RingPool::class_of(std::size_t capacity) {
  if (capacity <= kMinRingCapacity) return 0;
  const auto shift = std::bit_width(std::bit_ceil(capacity) / kMinRingCapacity) - 1;
  return std::min<std::size_t>(static_cast<std::size_t>(shift), kClasses - 1);
}

RingBuffer RingPool::acquire(std::size_t min_capacity) {
  const std::size_t wanted = std::max(min_capacity, kMinRingCapacity);
  auto& free_list = free_[class_of(wanted)];
  RingBuffer ring;
  if (!free_list.empty() && free_list.back().capacity() >= wanted) {
    ring = std::move(free_list.back());
    free_list.pop_back();
    --stats_.rings_cached;
    stats_.bytes_cached -= ring.capacity();
  } else {
    try {
      ring = RingBuffer(wanted);
    } catch (const std::system_error&) {
      ++stats_.map_failures;
      throw;
    }
    ++stats_.rings_mapped;
  }
  ++stats_.rings_lent;
  stats_.bytes_lent += ring.capacity();
  return ring;
}

void RingPool::release(RingBuffer ring) {
  if (!ring.mapped()) return;
  --stats_.rings_lent;
  stats_.bytes_lent -= ring.capacity();
  ring.clear();
  if (stats_.bytes_cached + ring.capacity() > cache_budget_) return;  // unmapped as it goes
  stats_.bytes_cached += ring.capacity();
  ++stats_.rings_cached;
  free_[class_of(ring.capacity())].push_back(std::move(ring));
}

}  // namespace ringwire
