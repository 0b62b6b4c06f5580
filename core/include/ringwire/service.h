#pragma once
// Service: what a server does with each complete frame. Knows nothing of sockets, loops or engines:
// the native Connection and the libuv engine call the same services. One instance per loop (made by
// a ServiceFactory), so a service may keep per-loop state without locks.

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

namespace ringwire {

class LateReplySlot;

// A reply a service sends after on_frame returned, from the same loop (after a timer, say). The
// frame's place in the order is kept: its connection decodes no further frame until the reply is
// sent, so nothing overtakes it. Movable; harmless once its connection is gone.
class LateReply {
 public:
  LateReply() = default;
  explicit LateReply(std::weak_ptr<LateReplySlot> slot) : slot_(std::move(slot)) {}
  // Sends `frames` (whole frames, header included) as the reply. False when the connection has
  // closed meanwhile, or this reply was already sent. Loop thread only.
  bool send(std::span<const std::byte> frames);

 private:
  std::weak_ptr<LateReplySlot> slot_;
};

// Where a service writes its reply bytes: whole frames, header included (see frame.h).
class ReplyWriter {
 public:
  // Room for exactly `n` more reply bytes, contiguous; the caller fills all of it.
  // Throws std::bad_alloc if the output cannot grow.
  virtual std::span<std::byte> append(std::size_t n) = 0;
  // The reply to this frame will come later, through the returned LateReply (return kDone).
  virtual LateReply defer() = 0;

 protected:
  ~ReplyWriter() = default;
};

enum class FrameVerdict : unsigned char {
  kDone,           // handled; any reply was written to the ReplyWriter
  kEcho,           // reply with the frame exactly as received (sent from the input, no copy)
  kProtocolError,  // the frame breaks the service's rules: reply owed so far, then close
};

struct FrameResult {
  FrameVerdict verdict = FrameVerdict::kDone;
  std::string_view error;  // for kProtocolError: a static description, logged with the peer
};

class Service {
 public:
  virtual ~Service() = default;
  virtual std::string_view name() const = 0;
  // One complete frame's payload. The span is valid only during the call.
  virtual FrameResult on_frame(std::span<const std::byte> payload, ReplyWriter& out) = 0;
  // True for a service whose every frame is echoed (on_frame always returns kEcho and writes
  // nothing). An engine may then echo a large frame without reading it at all: the native
  // Connection passes it socket -> pipe -> socket with splice(2), and on_frame is not called.
  virtual bool echoes_every_frame() const { return false; }
};

using ServiceFactory = std::function<std::unique_ptr<Service>()>;

}  // namespace ringwire
