#pragma once
// Connection: one accepted socket serving framed requests. Owned by its loop's server part (which
// destroys it after it reports closed); owns its socket and, while it has bytes, rings lent by the
// loop's RingPool. Loop thread only.
//
// Data path: socket -> input ring -> decode in place -> Service -> reply -> socket.
//   - recv() writes into the input ring's free span; frames are decoded where they lie.
//   - An echo reply is the frame itself: the input ring's prefix of echoed frames [read, echo_end)
//     is sent straight from the ring, and released as it is sent (no user-space copy).
//   - Other replies go to an output ring, sent after the echoed prefix (order is kept).
//   input ring:  | echoed, unsent | decoded, skipped* | undecoded (partial frame) | free |
//                 read          echo_end          decode                      write
//   (*a non-echo frame decoded while echoed bytes are unsent: decoding pauses until they are sent)
//
// Backpressure: reading stops while unsent output is at or above the high-water mark, or the input
// ring is full of frames waiting for their reply; it resumes once unsent output falls to the
// low-water mark. A frame larger than the ring moves the connection to a larger ring as its bytes
// arrive (never sized from the announced length alone).
//
// Closing: every close has a reason. After a protocol error or the peer's EOF the replies owed are
// sent first; then the write side is shut and the socket closed (lingering until the peer closes
// or kLingerTimeout passes, so a reset cannot destroy replies still in flight).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "ringwire/event_loop.h"
#include "ringwire/net.h"
#include "ringwire/ring_buffer.h"
#include "ringwire/ring_pool.h"
#include "ringwire/service.h"
#include "ringwire/stats.h"

namespace ringwire {

struct ConnectionLimits {
  std::uint32_t max_frame = 16u * 1024 * 1024;
  Clock::duration idle_timeout{};                // zero: none
  std::size_t high_water = 256 * 1024;           // stop reading at this much unsent output
  std::size_t low_water = 64 * 1024;             // resume reading at this much
};

class Connection;

// What a loop lends its connections. Plain references: all live on the same loop thread.
struct ConnectionContext {
  EventLoop& loop;
  RingPool& rings;
  Service& service;
  LoopStats& stats;
  const ConnectionLimits& limits;
  std::function<void(Connection&)> on_closed;  // destroys the connection; called last
};

class Connection final : public IoHandler, private ReplyWriter {
 public:
  // Bytes read per recv() attempt are bounded by the ring; per wake-up we read at most this many
  // times so one fast peer cannot starve the others on its loop (level-triggered: the rest is
  // reported again next turn).
  static constexpr int kMaxReadsPerWakeup = 16;
  // After shutting our side down, how long we keep reading (and dropping) the peer's bytes so our
  // replies are not destroyed by a reset.
  static constexpr std::chrono::seconds kLingerTimeout{2};

  Connection(ConnectionContext& context, UniqueFd socket, const SocketAddress& peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // The server is draining: close as soon as nothing is unread, partial or unsent.
  void begin_drain();
  // Closes now (drain timeout, shutdown). Calls on_closed.
  void abort(CloseReason reason);

  void on_io(const Event& event) override;
  const SocketAddress& peer() const { return peer_; }
  std::size_t index_in_owner = 0;  // the owner's bookkeeping (O(1) removal)

 private:
  enum class State : std::uint8_t { kOpen, kFlushThenClose, kLingering, kClosed };

  std::span<std::byte> append(std::size_t n) override;  // ReplyWriter

  void handle_readable();
  bool receive_once();  // false when nothing more can be read now
  void process_input();
  bool ensure_input_space();
  void send_pending();
  void update_interest();
  void on_peer_finished();
  void protocol_error(std::uint32_t length, std::string_view what);
  void begin_close(CloseReason reason);
  void finish(CloseReason reason);
  bool quiet() const;
  void return_idle_rings();
  void arm_idle_timer(TimePoint deadline);
  void on_idle_timer();
  void linger_read();
  std::size_t unsent() const { return echo_bytes_ + output_.size(); }
  void after_event();  // closes and hands back to the owner if finished; the last call made

  ConnectionContext& ctx_;
  UniqueFd socket_;
  SocketAddress peer_;
  IoToken token_ = 0;
  RingBuffer input_;
  RingBuffer output_;
  std::size_t echo_bytes_ = 0;     // unsent echoed prefix of the input ring
  std::size_t decoded_bytes_ = 0;  // input bytes decoded past the echoed prefix (skipped frame)
  State state_ = State::kOpen;
  CloseReason close_reason_ = CloseReason::kPeerClosed;
  bool reading_paused_ = false;
  bool peer_finished_ = false;  // EOF seen
  bool draining_ = false;
  bool writable_wanted_ = false;
  TimerId idle_timer_ = kNoTimer;
  TimePoint last_progress_{};
};

}  // namespace ringwire
