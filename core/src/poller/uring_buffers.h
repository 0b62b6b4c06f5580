#pragma once
// UringBuffers: one loop's provided-buffer ring (io_uring_register_buf_ring, kernel 5.19): a fixed
// set of equal buffers the kernel picks from for multishot receives, so a receive waiting on an
// idle socket holds no memory. Owned by the UringPoller; loop thread only.
//
// A completion names the buffer it filled; the poller lends it to the handler for the dispatch of
// that event only and gives it back (give_back(), published to the kernel in one store by
// publish() before the next submission). So buffers are never held across a turn and
// the ring runs dry only when more completions than kCount arrive within one wait (the receive
// then ends with ENOBUFS and its owner arms it again; the buffers are back by then).

#include <liburing.h>

#include <cstddef>
#include <cstdint>

namespace ringwire {

class UringBuffers {
 public:
  // 4 KiB: a burst of small frames, a sixteenth of a 64 KiB one. A multishot receive takes up
  // to 32 buffers per wake-up before the loop can stop it, and what the session has no room for
  // waits in the connection: 8 KiB buffers doubled what 100 stalled peers held (bench/RESULTS.md).
  // 1,024 of them cover the completions of 1,000 busy connections in one wait; 4 MiB, one
  // mapping, resident only as far as the kernel has written.
  static constexpr std::size_t kSize = 4 * 1024;
  static constexpr unsigned kCount = 1024;
  static constexpr std::uint16_t kGroup = 0;  // the buffer group id the receives select from

  // Maps and registers `count` buffers (a power of two; fewer only in tests); throws
  // std::system_error if the kernel refuses (pre-5.19).
  explicit UringBuffers(io_uring& ring, unsigned count = kCount);
  ~UringBuffers();
  UringBuffers(const UringBuffers&) = delete;
  UringBuffers& operator=(const UringBuffers&) = delete;

  // Where buffer `id` (from a completion's flags) begins.
  const std::byte* at(std::uint16_t id) const { return base_ + std::size_t{id} * kSize; }
  // Queues buffer `id` for the kernel again; publish() makes the queued ones visible.
  void give_back(std::uint16_t id);
  void publish();

 private:
  io_uring& ring_;
  unsigned count_;
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  io_uring_buf_ring* entries_ = nullptr;
  std::byte* base_ = nullptr;
  int queued_ = 0;
};

}  // namespace ringwire
