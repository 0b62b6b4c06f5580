#pragma once
// DiscardService: counts each frame and sends nothing back (one-way ingest tests).

#include "ringwire/service.h"

namespace ringwire {

class DiscardService final : public Service {
 public:
  std::string_view name() const override { return "discard"; }
  FrameResult on_frame(std::span<const std::byte>, ReplyWriter&) override { return {}; }
};

}  // namespace ringwire
