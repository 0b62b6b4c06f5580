#pragma once
// FrameSession: the protocol of one connection (DESIGN §1), written once for every engine and
// backend. Owned by its transport (the engine's connection object), which it never outlives;
// owns the connection's rings while they hold bytes (lent by the loop's RingPool). Loop thread
// only. It never touches a socket: a transport moves the bytes and tells it what happened.
//
// What it decides: decoding in place, calling the Service, the order of the replies owed (echoed
// frames sent from the input ring, replies the service wrote to the output ring, frames passed
// through outside the rings, late replies), backpressure, half-close, the protocol error (replies
// owed, then shut down), drain quietness, the idle and linger deadlines, and the close reason.
//
//   input ring:  | echoed, owed | decoded, skipped* | undecoded (partial frame) | free |
//                 read         echo_end           decode                      write
//   owed, in order:  [echoed prefix of the input ring] [output ring] [passed-through bytes]
//   (*a non-echo frame decoded while echoed bytes are owed: decoding pauses until they are sent)
//
// The transport side, each call an entry point of the transport's own event:
//   read step:   read_room() -> the transport reads into it -> received(n) | peer_finished()
//                (a completion transport reads into buffers of its own and copies in: the room
//                is never the kernel's)
//   send step:   owed() -> the transport sends (some of) it -> sent(n); an asynchronous
//                transport says sending(n) when it hands bytes to the kernel, sent(n) when done
//   pass-through (optional, a transport that can move bytes outside the rings): peeked(),
//                in_transit() / passed_in(n), pipe_ready() / passed_out(n), spill_room()
//   lifecycle:   settle() at the end of every entry point, deadline() / on_deadline(),
//                begin_drain(), abort(), closed() -> the transport tears down, then release()
//   the session calls back only through SessionTransport: shut the write side, is the socket
//   empty, send what became owed outside an event (a late reply), the time, the peer's name.
// docs/design.md draws the sequence for readiness, completion and libuv transports.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "ringwire/frame.h"
#include "ringwire/owed_replies.h"
#include "ringwire/peer_warnings.h"
#include "ringwire/ring_buffer.h"
#include "ringwire/ring_lender.h"
#include "ringwire/ring_pool.h"
#include "ringwire/service.h"
#include "ringwire/stats.h"
#include "ringwire/timer_queue.h"

namespace ringwire {

struct ConnectionLimits {
  std::uint32_t max_frame = kDefaultMaxFrame;
  Clock::duration idle_timeout{};       // zero: none
  std::size_t high_water = 256 * 1024;  // stop reading at this much unsent output
  std::size_t low_water = 64 * 1024;    // resume reading at this much
};

// Where a connection is in its life; the same states in every engine.
enum class ConnectionState : std::uint8_t {
  kOpen,       // reading, decoding, replying
  kFlushing,   // no more requests: send what is owed (close_reason() says why), then close
  kLingering,  // our side is shut; dropping the peer's bytes until it closes
  kClosed,     // done: the transport releases its resources and is destroyed
};

// What a loop lends its sessions. Plain references: all live on the same loop thread.
struct SessionContext {
  RingPool& rings;
  Service& service;
  LoopStats& stats;
  const ConnectionLimits& limits;
  PeerWarnings peer_warnings{};  // the loop's rate-limited warnings about one peer
};

// What a session asks of its transport. Loop thread only.
class SessionTransport {
 public:
  virtual TimePoint now() = 0;
  // Every reply owed is sent and the peer may still send: shut our write side (the peer sees
  // FIN); the session then lingers, dropping what arrives, until the peer closes or the deadline.
  virtual void shutdown_write() = 0;
  // True when nothing is unread in the socket (drain waits for it).
  virtual bool socket_empty() = 0;
  // Replies became owed outside the transport's own events (a late reply): send them, settle.
  virtual void send_owed() = 0;
  // Capacity of the channel for passing large echoed frames through outside the rings (0: none).
  virtual std::size_t pass_through_capacity() { return 0; }
  virtual std::string peer_name() const = 0;

 protected:
  ~SessionTransport() = default;
};

// What a peeked header means for a transport that passes frames through (see peeked()).
enum class PeekVerdict : std::uint8_t {
  kRead,         // read it into the ring (small, oversized, or no room to pass it)
  kPassThrough,  // it is passing through now: move in_transit() bytes outside the rings
  kSendFirst,    // the channel is full of owed frames: send them, then peek again
};

class FrameSession final : private ReplyWriter {
 public:
  // After shutting our side down, how long the peer's bytes are read and dropped before closing,
  // so our replies are not destroyed by a reset.
  static constexpr std::chrono::seconds kLingerTimeout{2};
  // Frames from this size (header included) are passed through when the transport can. Measured
  // on loopback, passing through already pays at 18-21 KB (2-6% less server CPU than the ring
  // path); below 16 KiB frames mostly arrive whole in one read (bench/RESULTS.md).
  static constexpr std::size_t kPassThroughMinFrame = 16 * 1024;

  FrameSession(SessionContext& context, SessionTransport& transport);
  ~FrameSession();
  FrameSession(const FrameSession&) = delete;
  FrameSession& operator=(const FrameSession&) = delete;

  void start();

  // ---- read step ----
  bool wants_read() const;
  // Free space in the input ring to read into; empty when no reading should happen now (or no
  // ring could be had: the session then closes).
  std::span<std::byte> read_room();
  void received(std::size_t n);
  void peer_finished();
  void failed();  // the socket failed or was reset

  // ---- send step ----
  using Owed = OwedReplies::Spans;
  // The ring bytes owed and not yet handed to the transport, in order.
  Owed owed() const { return replies_.ring_spans(); }
  // An asynchronous transport handed the first n bytes of owed() to the kernel: they stay where
  // they are until sent(n).
  void sending(std::size_t n) { replies_.sending(n); }
  // The first n bytes owed (those handed over first) were sent.
  void sent(std::size_t n);
  bool has_unsent() const { return unsent() > 0; }

  // ---- pass-through: whole frames moved outside the rings, sent after the ring bytes owed ----
  bool peek_next() const { return peek_next_; }
  PeekVerdict peeked(std::span<const std::byte, kFrameHeaderSize> header);
  void stop_peeking() { peek_next_ = false; }
  std::size_t in_transit() const { return transit_left_; }
  void passed_in(std::size_t n);
  // The channel is full: reading waits for passed_out() to make room.
  void channel_full();
  std::size_t pipe_bytes() const { return pipe_held_ + replies_.outside(); }
  std::size_t pipe_held() const { return pipe_held_; }
  std::size_t pipe_owed() const { return replies_.outside(); }
  // Bytes owed from the channel, sendable once owed() is empty.
  std::size_t pipe_ready() const { return replies_.outside_ready(); }
  void passed_out(std::size_t n);
  // The channel's slots ran out before the frame was whole: the transport reads all its held
  // bytes back into spill_room() (exactly pipe_held() bytes; empty if no ring could be had: the
  // session is then closed), then calls spilled(). The frame finishes in the ring.
  std::span<std::byte> spill_room();
  void spilled();
  // True once after the session let go of a channel that still held bytes (they are dropped).
  bool take_channel_discarded() { return std::exchange(pipe_discarded_, false); }

  // ---- lifecycle ----
  // Ends every entry point: closes a quiet draining session, updates backpressure, finishes a
  // flush whose replies are all sent, and hands idle rings back.
  void settle();
  void begin_drain() { draining_ = true; }
  void abort(CloseReason reason) { close_now(reason); }
  // When on_deadline() is due (idle timeout or lingering); TimePoint::max() for never.
  TimePoint deadline() const { return deadline_; }
  void on_deadline();
  ConnectionState state() const { return state_; }
  bool closed() const { return state_ == ConnectionState::kClosed; }
  bool lingering() const { return state_ == ConnectionState::kLingering; }
  CloseReason close_reason() const { return close_reason_; }
  // After closed(): hands everything back and counts the close. Call before closing the socket,
  // so whoever sees the close sees the count.
  void release();

  std::size_t unsent() const { return replies_.unsent(); }

 private:
  friend class LateReply;

  std::span<std::byte> append(std::size_t n) override;  // ReplyWriter, for the service
  LateReply defer() override;
  void reply_late(std::span<const std::byte> bytes);

  bool decoding() const;
  void process_input();
  bool echo_run();
  bool begin_pass_through(const FrameView& frame, std::size_t in_ring);
  void finish_pass_through();
  bool make_input_room();
  void update_backpressure();
  void protocol_error(std::string_view what, std::uint32_t length);
  void flush_then_close(CloseReason reason);
  void finish_flush();
  void start_lingering();
  void close_now(CloseReason reason);
  bool quiet();
  void note_progress() { last_progress_ = transport_.now(); }

  SessionContext& ctx_;
  SessionTransport& transport_;
  const bool echo_all_;  // the service echoes every frame: on_frame need not be called
  const RingLender lender_;
  RingBuffer input_;
  OwedReplies replies_;  // the echoed prefix of input_, the output ring, passed-through bytes
  // Pass-through: the frame in transit (its whole frames in the channel are owed, replies_).
  std::size_t transit_left_ = 0;    // bytes of the frame in transit still in the socket
  std::size_t transit_prefix_ = 0;  // its bytes in the input ring, after the echoed prefix
  std::size_t pipe_held_ = 0;       // its bytes in the channel: held until the frame is whole
  bool peek_next_ = false;          // the last frame passed through: peek at the next header
  bool pipe_full_ = false;          // no room in the channel: stop reading until some is sent
  bool spilled_ = false;            // the first undecoded frame was spilled: finish it in the ring
  bool pipe_discarded_ = false;
  ConnectionState state_ = ConnectionState::kOpen;
  CloseReason close_reason_ = CloseReason::kPeerClosed;
  bool reading_paused_ = false;  // backpressure
  bool peer_finished_ = false;
  bool draining_ = false;
  bool released_ = false;
  std::shared_ptr<LateReplySlot> late_;  // a frame waits for its late reply: decoding pauses
  TimePoint last_progress_{};
  TimePoint deadline_ = TimePoint::max();
};

}  // namespace ringwire
