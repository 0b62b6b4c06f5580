#pragma once
// EchoService: replies to each frame with the identical frame, sent from the bytes that arrived.

#include "ringwire/service.h"

namespace ringwire {

class EchoService final : public Service {
 public:
  std::string_view name() const override { return "echo"; }
  FrameResult on_frame(std::span<const std::byte>, ReplyWriter&) override {
    return {FrameVerdict::kEcho, {}};
  }
  bool echoes_every_frame() const override { return true; }
};

}  // namespace ringwire
