#pragma once
// RingLender: how a connection borrows rings from its loop's RingPool, with the loop's
// ring_bytes_lent gauge kept exact. Plain references; loop thread only. O(1) per call, plus a
// copy of the ring's bytes when one grows.

#include <cstddef>
#include <cstring>

#include "ringwire/ring_pool.h"
#include "ringwire/stats.h"

namespace ringwire {

struct RingLender {
  RingPool& rings;
  LoopStats& stats;

  // Throws std::system_error when no ring can be mapped.
  RingBuffer take(std::size_t min_capacity) const {
    RingBuffer ring = rings.acquire(min_capacity);
    stats.ring_bytes_lent.add(ring.capacity());
    return ring;
  }
  void give_back(RingBuffer& ring) const {
    if (!ring.mapped()) return;
    stats.ring_bytes_lent.sub(ring.capacity());
    rings.release(std::move(ring));
    ring = RingBuffer();
  }
  // A ring of at least `min_capacity` holding a copy of `ring`'s bytes (the one ring copy).
  RingBuffer copy_to_larger(const RingBuffer& ring, std::size_t min_capacity) const {
    RingBuffer larger = take(min_capacity);
    if (ring.mapped()) {
      const auto bytes = ring.readable();
      std::memcpy(larger.writable().data(), bytes.data(), bytes.size());
      larger.commit(bytes.size());
    }
    return larger;
  }
  // Moves `ring`'s bytes to a ring of at least `min_capacity` (an empty one: a fresh ring).
  void grow(RingBuffer& ring, std::size_t min_capacity) const {
    RingBuffer larger = copy_to_larger(ring, min_capacity);
    give_back(ring);
    ring = std::move(larger);
  }
};

}  // namespace ringwire
