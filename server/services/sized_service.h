#pragma once
// SizedService: a request's payload begins with a 4-octet big-endian reply size R; the reply is a
// frame of R zero octets (asymmetric request/response, like neper's tcp_rr). A request shorter
// than 4 octets, or an R over max-frame, is a protocol error.

#include <cstdint>
#include <cstring>

#include "ringwire/frame.h"
#include "ringwire/service.h"

namespace ringwire {

class SizedService final : public Service {
 public:
  explicit SizedService(std::uint32_t max_frame) : max_frame_(max_frame) {}
  std::string_view name() const override { return "sized"; }
  FrameResult on_frame(std::span<const std::byte> payload, ReplyWriter& out) override {
    if (payload.size() < kFrameHeaderSize) {
      return {FrameVerdict::kProtocolError, "sized request shorter than 4 octets"};
    }
    const std::uint32_t reply_size = load_be32(payload.data());
    if (reply_size > max_frame_) {
      return {FrameVerdict::kProtocolError, "sized request asks for a reply over --max-frame"};
    }
    const std::span<std::byte> reply = out.append(kFrameHeaderSize + reply_size);
    encode_frame_header(reply, reply_size);
    std::memset(reply.data() + kFrameHeaderSize, 0, reply_size);
    return {};
  }

 private:
  std::uint32_t max_frame_;
};

}  // namespace ringwire
