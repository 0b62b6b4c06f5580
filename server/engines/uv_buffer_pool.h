#pragma once
// UvBufferPool: lends plain heap buffers to the connections of one libuv loop while they hold
// bytes and takes them back when they are empty, so an idle connection holds no buffer and a busy
// one allocates nothing per read or per frame. Owned by its loop's part of the UvEngine; loop
// thread only.
//
// The uv engine's counterpart of the native RingPool, without the mirrored mapping: a libuv server
// reads into flat buffers. Power-of-two size classes from kMinCapacity; acquire and release are
// O(1) (a vector pop/push) unless the class's free list is empty (one allocation) or the cache
// budget is spent (one free). Cost: 16 bytes per cached buffer plus its bytes.

#include <array>
#include <bit>
#include <cstddef>
#include <memory>
#include <vector>

#include "ringwire/ring_pool.h"

namespace ringwire {

// UvBuffer: one heap byte buffer. Owns its bytes; movable, not copyable; one owner at a time.
struct UvBuffer {
  std::unique_ptr<std::byte[]> bytes;
  std::size_t capacity = 0;

  std::byte* data() const { return bytes.get(); }
  explicit operator bool() const { return bytes != nullptr; }
};

class UvBufferPool {
 public:
  // The same first class and cache budget as the native engine's rings, so both engines read up
  // to 64 KiB per call and cache the same memory: the comparison is of engines, not of sizes.
  static constexpr std::size_t kMinCapacity = RingPool::kMinRingCapacity;
  static constexpr std::size_t kCacheBytes = RingPool::kDefaultCacheBytes;

  // A buffer of at least `min_capacity` bytes (uninitialised). Throws std::bad_alloc.
  UvBuffer acquire(std::size_t min_capacity) {
    const std::size_t capacity = std::bit_ceil(std::max(min_capacity, kMinCapacity));
    const std::size_t index = class_of(capacity);
    if (index < kClasses && !free_[index].empty()) {
      auto& list = free_[index];
      UvBuffer buffer = std::move(list.back());
      list.pop_back();
      cached_bytes_ -= buffer.capacity;
      return buffer;
    }
    return UvBuffer{std::make_unique_for_overwrite<std::byte[]>(capacity), capacity};
  }

  // Takes a buffer back; an empty one is ignored. Over the cache budget it is freed instead.
  void release(UvBuffer buffer) {
    if (!buffer) return;
    const std::size_t index = class_of(buffer.capacity);
    if (index >= kClasses || cached_bytes_ + buffer.capacity > kCacheBytes) return;  // freed here
    cached_bytes_ += buffer.capacity;
    free_[index].push_back(std::move(buffer));
  }

 private:
  static constexpr std::size_t kClasses = 24;  // 64 KiB << 23 = 512 GiB: more than any frame
  static std::size_t class_of(std::size_t capacity) {
    return static_cast<std::size_t>(std::countr_zero(capacity / kMinCapacity));
  }

  std::array<std::vector<UvBuffer>, kClasses> free_;
  std::size_t cached_bytes_ = 0;
};

}  // namespace ringwire
