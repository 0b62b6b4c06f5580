#pragma once
// RingBuffer: a mirrored ("magic") byte ring. Owns shared anonymous pages, mapped twice back to
// back:
//
//        virtual addresses:  base                    base + capacity           base + 2*capacity
//                            | mapping A: pages 0..n-1 | mapping B: pages 0..n-1 |
//                                        ^ read        ^ write (wrapped)
//   the readable bytes [read, write) and the free bytes [write, read + capacity) are each ONE
//   contiguous span, even across the wrap, because a byte at offset i is also at offset i+capacity.
//
// So recv() writes straight into writable(), frames are decoded in place from readable(), and an
// echo is sent from the very bytes that arrived. Costs two memory mappings (vm.max_map_count) and
// no file descriptor (shared anonymous pages, mirrored with mremap), so rings can still be made
// while the process is out of descriptors. Pages are allocated by the kernel on first touch, so a
// large ring costs address space, not memory, until it is used.
// Not thread-safe: one owner at a time (a connection, or its loop's RingPool).

#include <cstddef>
#include <cstdint>
#include <span>

namespace ringwire {

class RingBuffer {
 public:
  RingBuffer() = default;  // holds no mapping; capacity() == 0
  // Maps a ring of at least `min_capacity` bytes, rounded up to a power of two and to whole pages.
  // Throws std::system_error when the kernel refuses (ENOMEM, max_map_count reached).
  explicit RingBuffer(std::size_t min_capacity);
  RingBuffer(RingBuffer&& other) noexcept;
  RingBuffer& operator=(RingBuffer&& other) noexcept;
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;
  ~RingBuffer();

  bool mapped() const { return base_ != nullptr; }
  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return static_cast<std::size_t>(write_ - read_); }
  std::size_t free_space() const { return capacity_ - size(); }
  bool empty() const { return write_ == read_; }
  bool full() const { return size() == capacity_; }

  // The free region, contiguous: write into it, then commit() what was written.
  std::span<std::byte> writable() { return {base_ + offset(write_), free_space()}; }
  void commit(std::size_t n) { write_ += n; }

  // The unread bytes, contiguous: read them, then consume() what was used.
  std::span<std::byte> readable() const { return {base_ + offset(read_), size()}; }
  void consume(std::size_t n) {
    read_ += n;
    if (read_ == write_) read_ = write_ = 0;  // reuse the same first pages while traffic is light
  }
  void clear() { read_ = write_ = 0; }

 private:
  std::size_t offset(std::uint64_t position) const {
    return static_cast<std::size_t>(position & (capacity_ - 1));
  }
  void unmap();

  std::byte* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t read_ = 0;
  std::uint64_t write_ = 0;
};

}  // namespace ringwire
