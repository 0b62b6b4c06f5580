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
// Pass-through (ctx.pass_through: the service echoes every frame): a frame of at least
// kPassThroughMinFrame bytes that fits a pipe is not read at all. Its bytes move socket -> pipe ->
// socket with splice(2), never copied to or from user space (half of a large echo's CPU is those
// two copies). The pipe is lent by the loop's PipePool while a frame is in it.
//   - Start: the header is decoded from the ring (its bytes already there are the frame's prefix,
//     echoed from the ring) or, right after a passed-through frame, peeked with MSG_PEEK so the
//     whole frame goes to the pipe; a small or oversized header is then read into the ring.
//   - The frame is held until it is whole (the pipe holds all of it), then owed: its ring prefix
//     joins the echoed prefix and its pipe bytes are sent after it. So a half-closed client gets
//     no part of an incomplete frame, exactly as on the ring path.
//   - Order: nothing read into the ring is decoded while the pipe holds bytes, so every ring byte
//     that is owed precedes the pipe's, and the next frame's reply follows them.
//   - A pipe holds capacity / page-size pieces: if the frame arrives in pieces so small that the
//     pipe fills before it is whole, its bytes are read back into the ring (one copy) and the frame
//     finishes on the ring path (a "spill").
//
// Backpressure: reading stops while unsent output is at or above the high-water mark, or the input
// ring is full of frames waiting for their reply; it resumes once unsent output falls to the
// low-water mark. A frame larger than the ring moves the connection to a larger ring as its bytes
// arrive (never sized from the announced length alone).
//
// Closing: every close has a reason. After a protocol error, the peer's EOF or a drain that found
// the connection quiet, the replies owed are sent first; then the write side is shut and the socket
// closed (lingering until the peer closes or kLingerTimeout passes, so a reset cannot destroy
// replies still in flight).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "ringwire/event_loop.h"
#include "ringwire/frame.h"
#include "ringwire/net.h"
#include "ringwire/pipe_pool.h"
#include "ringwire/ring_buffer.h"
#include "ringwire/ring_pool.h"
#include "ringwire/service.h"
#include "ringwire/stats.h"

namespace ringwire {

struct ConnectionLimits {
  std::uint32_t max_frame = 16u * 1024 * 1024;
  Clock::duration idle_timeout{};       // zero: none
  std::size_t high_water = 256 * 1024;  // stop reading at this much unsent output
  std::size_t low_water = 64 * 1024;    // resume reading at this much
};

class Connection;

// Where a connection is in its life; the same states in every engine's connection.
enum class ConnectionState : std::uint8_t {
  kOpen,            // reading, decoding, replying
  kFlushThenClose,  // no more reading: send what is owed, then close (or linger)
  kLingering,       // our side is shut; dropping the peer's bytes until it closes
  kClosed,          // done: the owner destroys the connection once its resources are released
};

// What a loop lends its connections. Plain references: all live on the same loop thread.
struct ConnectionContext {
  EventLoop& loop;
  RingPool& rings;
  Service& service;
  LoopStats& stats;
  const ConnectionLimits& limits;
  std::function<void(Connection&)> on_closed;  // destroys the connection; called last
  PipePool& pipes;
  // The service echoes every frame and the process ignores SIGPIPE: large frames may be passed
  // through with splice(2).
  bool pass_through = false;
};

class Connection final : public IoHandler, private ReplyWriter {
 public:
  // Per wake-up at most this many recv() calls, so one fast peer cannot starve the others on its
  // loop (level-triggered: what is left is reported again next turn).
  static constexpr int kMaxReadsPerWakeup = 16;
  // After shutting our side down, how long we keep reading (and dropping) the peer's bytes so our
  // replies are not destroyed by a reset.
  static constexpr std::chrono::seconds kLingerTimeout{2};
  // Frames from this size (header included) are passed through when the service allows it.
  // Measured on loopback, passing through already pays at 18-21 KB (2-6% less server CPU than
  // the ring path); below 16 KiB frames mostly arrive whole in one read, so few would take the
  // path (bench/RESULTS.md, "Pass-through: the threshold").
  static constexpr std::size_t kPassThroughMinFrame = 16 * 1024;

  Connection(ConnectionContext& context, UniqueFd socket, const SocketAddress& peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // The server is draining: as soon as nothing is unread, partial or unsent, shut the write side
  // and close once the peer has closed too (or kLingerTimeout passes).
  void begin_drain();
  // Closes now (drain timeout, shutdown).
  void abort(CloseReason reason);

  void on_io(const Event& event) override;
  const SocketAddress& peer() const { return peer_; }
  std::size_t index_in_owner = 0;  // the owner's bookkeeping (O(1) removal)

 private:
  using State = ConnectionState;

  std::span<std::byte> append(std::size_t n) override;  // ReplyWriter, for the service

  void handle_readable();
  bool receive_once();
  bool peek_header();
  bool begin_pass_through(const FrameView& frame, std::size_t in_ring);
  bool splice_in();
  void finish_pass_through();
  void spill_to_ring();
  bool splice_out();
  void drop_pipe();
  bool in_transit() const { return transit_left_ > 0; }
  std::size_t pipe_bytes() const { return pipe_held_ + pipe_ready_; }
  void process_input();
  void skip_frame(std::size_t size);
  bool make_input_room();
  void send_pending();
  void release_sent_echo(std::size_t n);
  void on_peer_finished();
  void protocol_error(std::string_view what, std::uint32_t length);
  void flush_then_close(CloseReason reason);
  void maybe_finish_flush();
  void start_lingering();
  void linger_read();
  void close_now(CloseReason reason);
  void update_backpressure();
  bool can_read() const;
  bool quiet() const;
  void arm_timer(TimePoint deadline);
  void on_timer();
  RingBuffer take_ring(std::size_t min_capacity);
  void give_back(RingBuffer& ring);
  std::size_t unsent() const { return echo_bytes_ + output_.size() + pipe_ready_; }
  std::size_t owed_in_input() const { return echo_bytes_ + skipped_bytes_; }
  // Every entry point ends here: hands idle rings back and sets interest, or, once closed,
  // releases everything and calls on_closed (which destroys us) as its very last step.
  void after_event();

  ConnectionContext& ctx_;
  UniqueFd socket_;
  SocketAddress peer_;
  IoToken token_ = 0;
  RingBuffer input_;
  RingBuffer output_;
  std::size_t echo_bytes_ = 0;     // unsent echoed prefix of the input ring
  std::size_t skipped_bytes_ = 0;  // a decoded non-echo frame right after that prefix
  // Pass-through: the frame in transit, and the pipe's bytes (sent after echo_bytes_).
  Pipe pipe_;
  std::size_t transit_left_ = 0;    // bytes of the frame in transit still in the socket
  std::size_t transit_prefix_ = 0;  // its bytes in the input ring, after the echoed prefix
  std::size_t pipe_held_ = 0;       // its bytes in the pipe: held until the frame is whole
  std::size_t pipe_ready_ = 0;      // bytes of whole frames in the pipe: owed
  bool peek_next_ = false;          // the last frame passed through: peek at the next header
  bool pipe_full_ = false;          // no room in the pipe: stop reading until some is sent
  bool spilled_ = false;            // the first undecoded frame was spilled: finish it in the ring
  State state_ = State::kOpen;
  CloseReason close_reason_ = CloseReason::kPeerClosed;
  bool reading_paused_ = false;  // backpressure
  bool peer_finished_ = false;   // recv() returned 0
  bool draining_ = false;
  bool want_write_ = false;   // a send was partial: wait for the socket to drain
  TimerId timer_ = kNoTimer;  // idle timeout, or the linger deadline
  TimePoint last_progress_{};
};

}  // namespace ringwire
