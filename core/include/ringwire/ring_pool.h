#pragma once
// RingPool: lends RingBuffers to the connections of one loop while they have bytes, and takes
// them back when they are empty, so an idle connection holds no ring (each ring costs two of the
// process's ~65,000 mappings). Owned by its EventLoop's user; loop thread only.
//
// Rings come in power-of-two size classes from kMinRingCapacity up. Each class keeps a free list;
// acquire and release are O(1) (a vector pop/push) unless the list is empty (two mmap calls and
// one mremap) or the cache budget is spent (munmap). Cost: 8 bytes per cached ring plus its pages.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringwire/ring_buffer.h"

namespace ringwire {

struct RingPoolStats {
  std::uint64_t rings_lent = 0;    // rings held by connections now
  std::uint64_t bytes_lent = 0;    // their capacity
  std::uint64_t rings_cached = 0;  // rings on the free lists now
  std::uint64_t bytes_cached = 0;
  std::uint64_t rings_mapped = 0;  // rings created since start (each two mmap + one mremap)
  std::uint64_t map_failures = 0;  // creation refused by the kernel
};

class RingPool {
 public:
  // 64 KiB holds a burst of small frames and a whole socket-buffer's read; larger frames move
  // their connection to a larger class as their bytes arrive.
  static constexpr std::size_t kMinRingCapacity = 64 * 1024;
  // Rings above this budget are unmapped on release rather than cached (per loop).
  static constexpr std::size_t kDefaultCacheBytes = 32 * 1024 * 1024;

  explicit RingPool(std::size_t cache_bytes = kDefaultCacheBytes) : cache_budget_(cache_bytes) {}
  RingPool(const RingPool&) = delete;
  RingPool& operator=(const RingPool&) = delete;

  // A clear ring of at least `min_capacity` bytes. Throws std::system_error if none can be mapped.
  RingBuffer acquire(std::size_t min_capacity = kMinRingCapacity);
  // Takes back a ring (any state; it is cleared). A ring with no mapping is ignored.
  void release(RingBuffer ring);

  const RingPoolStats& stats() const { return stats_; }

 private:
  static constexpr std::size_t kClasses = 24;  // 64 KiB << 23 = 512 GiB: more than any frame
  static std::size_t class_of(std::size_t capacity);

  std::array<std::vector<RingBuffer>, kClasses> free_;
  std::size_t cache_budget_;
  RingPoolStats stats_;
};

}  // namespace ringwire
