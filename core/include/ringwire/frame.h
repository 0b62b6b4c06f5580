#pragma once
// Framing (protocol v1, DESIGN §1): a frame is a 4-octet big-endian payload length, then the
// payload. Pure functions over spans: no sockets, no loop, no allocation. The same functions feed
// the connection, the unit tests, the fuzzer and the benchmarks.

#include <cstddef>
#include <cstdint>
#include <span>

namespace ringwire {

inline constexpr std::size_t kFrameHeaderSize = 4;
inline constexpr std::uint32_t kDefaultMaxFrame = 16u * 1024 * 1024;

enum class FrameStatus : std::uint8_t {
  kNeedMore,  // not a whole frame yet: `needed` says how many bytes the whole frame (or header) is
  kComplete,  // `payload` is one whole frame's payload; `size` bytes (header + payload) were used
  kTooLarge,  // the header announces more than max_frame: a protocol error; `length` says how much
};

struct FrameView {
  FrameStatus status = FrameStatus::kNeedMore;
  std::uint32_t length = 0;               // the announced payload length, once the header is in
  std::size_t needed = kFrameHeaderSize;  // header + payload bytes this frame occupies (or header)
  std::span<const std::byte> payload;     // valid only when status == kComplete
};

// Reads a big-endian u32 from the first four bytes of `in` (in.size() >= 4).
inline std::uint32_t load_be32(const std::byte* in) {
  return (std::uint32_t{std::to_integer<std::uint8_t>(in[0])} << 24) |
         (std::uint32_t{std::to_integer<std::uint8_t>(in[1])} << 16) |
         (std::uint32_t{std::to_integer<std::uint8_t>(in[2])} << 8) |
         std::uint32_t{std::to_integer<std::uint8_t>(in[3])};
}

inline void store_be32(std::byte* out, std::uint32_t value) {
  out[0] = static_cast<std::byte>(value >> 24);
  out[1] = static_cast<std::byte>(value >> 16);
  out[2] = static_cast<std::byte>(value >> 8);
  out[3] = static_cast<std::byte>(value);
}

// Decodes the frame at the start of `in`. The length is checked against `max_frame` before
// anything is sized from it. O(1): reads four bytes, never touches the payload.
inline FrameView decode_frame(std::span<const std::byte> in, std::uint32_t max_frame) {
  FrameView view;
  if (in.size() < kFrameHeaderSize) return view;
  view.length = load_be32(in.data());
  if (view.length > max_frame) {
    view.status = FrameStatus::kTooLarge;
    return view;
  }
  view.needed = kFrameHeaderSize + view.length;
  if (in.size() < view.needed) return view;
  view.status = FrameStatus::kComplete;
  view.payload = in.subspan(kFrameHeaderSize, view.length);
  return view;
}

// Writes the header of a frame carrying `length` payload bytes; `out` holds at least 4 bytes.
inline void encode_frame_header(std::span<std::byte> out, std::uint32_t length) {
  store_be32(out.data(), length);
}

}  // namespace ringwire
