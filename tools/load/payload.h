#pragma once
// Payload: how a request frame is written and how its reply is checked. Pure functions over spans
// (no sockets, no clock), shared by the client connection and the tests.
//
// Request payload, big-endian fields, each truncated to what fits in --size (small frames degrade
// gracefully: 12 bytes carry the sequence and 4 bytes of the time, 4 bytes carry 4 bytes of the
// sequence, 0 bytes carry nothing and only the length is checked):
//
//   sized only: [reply size: 4]
//   [sequence: 8][send time, ns: 8][pattern ...]
//
// The pattern byte at payload offset i is pattern_byte(i), so a reply is checked with one memcmp
// against a shared read-only pattern block: each reply byte is read once.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ringwire::load {

enum class ReplyCheck : std::uint8_t { kOk, kLength, kSequence, kContent };

class PayloadFormat {
 public:
  // `sized`: requests begin with the reply size `reply_size`.
  PayloadFormat(std::uint32_t size, bool sized, std::uint32_t reply_size);

  std::uint32_t size() const { return size_; }
  // Writes a whole request frame (header + payload) into `out` (request_frame_size() bytes).
  void write_request(std::byte* out, std::uint64_t sequence, std::uint64_t send_ns) const;
  std::size_t request_frame_size() const { return 4 + size_; }

  // Checks an echoed payload against the request it answers.
  ReplyCheck check_echo(std::span<const std::byte> payload, std::uint64_t sequence,
                        std::uint64_t send_ns) const;

  static std::byte pattern_byte(std::size_t offset) {
    return static_cast<std::byte>((offset * 131 + 7) & 0xff);  // 131: odd, so period 256
  }

 private:
  std::uint32_t size_;
  std::uint32_t prefix_;  // 4 for sized (the reply size), else 0
  std::uint32_t reply_size_;
  std::uint32_t sequence_bytes_;    // how many bytes of the sequence fit
  std::uint32_t time_bytes_;        // how many bytes of the send time fit
  std::uint32_t pattern_offset_;    // where the pattern starts
  std::vector<std::byte> pattern_;  // pattern_byte(i) for every i < size
};

}  // namespace ringwire::load
