#include "payload.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "ringwire/frame.h"

namespace ringwire::load {

namespace {

constexpr std::uint32_t kSequenceBytes = 8;
constexpr std::uint32_t kTimeBytes = 8;

// Writes the low `n` bytes of `value` (n <= 8) big-endian. The whole-field case is one store.
void put_low_be(std::byte* out, std::uint64_t value, std::uint32_t n) {
  if (n == 8 && std::endian::native == std::endian::little) {
    const std::uint64_t big = __builtin_bswap64(value);
    std::memcpy(out, &big, sizeof big);
    return;
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>(value >> (8 * (n - 1 - i)));
  }
}

std::uint64_t get_low_be(const std::byte* in, std::uint32_t n) {
  if (n == 8 && std::endian::native == std::endian::little) {
    std::uint64_t big = 0;
    std::memcpy(&big, in, sizeof big);
    return __builtin_bswap64(big);
  }
  std::uint64_t value = 0;
  for (std::uint32_t i = 0; i < n; ++i)
    value = (value << 8) | std::to_integer<std::uint64_t>(in[i]);
  return value;
}

std::uint64_t low_bits(std::uint64_t value, std::uint32_t bytes) {
  return bytes >= 8 ? value : value & ((std::uint64_t{1} << (8 * bytes)) - 1);
}

}  // namespace

PayloadFormat::PayloadFormat(std::uint32_t size, bool sized, std::uint32_t reply_size)
    : size_(size), prefix_(sized ? 4 : 0), reply_size_(reply_size), pattern_(size) {
  const std::uint32_t room = size_ > prefix_ ? size_ - prefix_ : 0;
  sequence_bytes_ = std::min(room, kSequenceBytes);
  time_bytes_ = std::min(room - sequence_bytes_, kTimeBytes);
  pattern_offset_ = prefix_ + sequence_bytes_ + time_bytes_;
  for (std::size_t i = 0; i < size_; ++i) pattern_[i] = pattern_byte(i);
}

void PayloadFormat::write_request(std::byte* out, std::uint64_t sequence,
                                  std::uint64_t send_ns) const {
  store_be32(out, size_);
  std::byte* payload = out + kFrameHeaderSize;
  if (prefix_ != 0) store_be32(payload, reply_size_);
  put_low_be(payload + prefix_, sequence, sequence_bytes_);
  put_low_be(payload + prefix_ + sequence_bytes_, send_ns, time_bytes_);
  // A frame too small for any pattern byte: memcpy from an empty pattern's null data() is
  // undefined even for 0 bytes (UBSan reports it).
  if (size_ > pattern_offset_) {
    std::memcpy(payload + pattern_offset_, pattern_.data() + pattern_offset_,
                size_ - pattern_offset_);
  }
}

ReplyCheck PayloadFormat::check_echo(std::span<const std::byte> payload, std::uint64_t sequence,
                                     std::uint64_t send_ns) const {
  if (payload.size() != size_) return ReplyCheck::kLength;
  const std::byte* p = payload.data();
  if (prefix_ != 0 && load_be32(p) != reply_size_) return ReplyCheck::kContent;
  if (get_low_be(p + prefix_, sequence_bytes_) != low_bits(sequence, sequence_bytes_)) {
    return ReplyCheck::kSequence;
  }
  if (get_low_be(p + prefix_ + sequence_bytes_, time_bytes_) != low_bits(send_ns, time_bytes_)) {
    return ReplyCheck::kContent;
  }
  if (size_ > pattern_offset_ && std::memcmp(p + pattern_offset_, pattern_.data() + pattern_offset_,
                                             size_ - pattern_offset_) != 0) {
    return ReplyCheck::kContent;
  }
  return ReplyCheck::kOk;
}

}  // namespace ringwire::load
