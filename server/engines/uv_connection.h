#pragma once
// UvConnection: one accepted socket serving framed requests on a libuv loop. Owned by its loop's
// part of the UvEngine (which destroys it once its handles are closed); owns its uv_tcp_t, its
// timer and, while it holds bytes, buffers lent by the loop's UvBufferPool. Loop thread only.
//
// The same protocol semantics as the native Connection, written the way libuv wants:
//   input buffer:  | held: this batch's replies are sent from here | undecoded (partial) | free |
//                  begin                                        decoded                end    cap
//   - libuv reads into the free tail (alloc_cb hands it out); frames are decoded where they lie.
//   - One batch per read: the echoed frames are one contiguous slice of the input; replies a
//     service writes go to an output buffer. The batch goes out with one uv_try_write of those
//     two uv_buf_t (a writev, no request, no callback); only what the socket did not take is
//     queued with uv_write. No copy of an echoed payload, no allocation per frame.
//   - While a uv_write is in flight the buffers must not move: reading goes on into the free
//     tail, decoding waits for the write to finish, and reading stops once the tail is full.
//   - Between batches the undecoded tail is moved to the front when less than half the buffer is
//     free (at most one partial frame's bytes), and a buffer full of one partial frame doubles.
//
// Backpressure, half-close, protocol errors (replies owed, then shutdown and linger), idle
// timeout and drain behave as in the native Connection (see ringwire/connection.h).

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "engines/uv_buffer_pool.h"
#include "ringwire/connection.h"
#include "ringwire/service.h"
#include "ringwire/stats.h"

namespace ringwire {

class UvConnection;

// Told when a connection is done; it destroys the connection.
class UvConnectionOwner {
 public:
  virtual void on_closed(UvConnection& connection) = 0;

 protected:
  ~UvConnectionOwner() = default;
};

// What a loop lends its connections. Plain references: all live on the same loop thread.
struct UvConnectionContext {
  uv_loop_t& loop;
  UvBufferPool& buffers;
  Service& service;
  LoopStats& stats;
  const ConnectionLimits& limits;
  UvConnectionOwner& owner;
};

class UvConnection final : private ReplyWriter {
 public:
  explicit UvConnection(UvConnectionContext& context);
  ~UvConnection();
  UvConnection(const UvConnection&) = delete;
  UvConnection& operator=(const UvConnection&) = delete;

  // Accepts the connection pending on `server` and starts reading; closes at once if that fails.
  void start(uv_stream_t* server);
  // The server is draining: close as soon as nothing is unread, partial or unsent.
  void begin_drain();
  // Closes now (drain timeout, shutdown).
  void abort(CloseReason reason);

  std::size_t index_in_owner = 0;  // the owner's bookkeeping (O(1) removal)

 private:
  enum class State : std::uint8_t {
    kOpen,            // reading, decoding, replying
    kFlushThenClose,  // no more reading: send what is owed, then close (or linger)
    kLingering,       // our side is shut; dropping the peer's bytes until it closes
    kClosed,          // uv_close() was called; the owner destroys us when the handles are closed
  };

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* request, int status);
  static void on_shutdown(uv_shutdown_t* request, int status);
  static void on_timer(uv_timer_t* timer);
  static void on_handle_closed(uv_handle_t* handle);

  std::span<std::byte> append(std::size_t n) override;  // ReplyWriter, for the service

  uv_buf_t input_room();
  void received(std::size_t n);
  void peer_finished();
  void read_failed();
  void process_input();
  void send_batch();
  void write_done(int status);
  void release_batch();
  void protocol_error(std::string_view what, std::uint32_t length);
  void flush_then_close(CloseReason reason);
  void finish_flush();
  void start_lingering();
  void timer_fired();
  void close_now(CloseReason reason);
  void update_backpressure();
  void update_reading();
  bool can_read() const;
  bool quiet() const;
  bool batch_empty() const { return echo_end_ == echo_begin_ && output_end_ == 0; }
  std::size_t unsent() const { return writing_ ? write_remaining_ : 0; }
  void arm_timer(std::uint64_t delay_ms);
  void note_progress() { last_progress_ms_ = uv_now(&ctx_.loop); }
  UvBuffer take_buffer(std::size_t min_capacity);
  void give_back(UvBuffer& buffer);
  std::string peer_name() const;
  // Every entry point ends here: sets reading and hands idle buffers back, or, once closed,
  // starts closing the handles (the owner destroys us when they are closed).
  void after_event();

  UvConnectionContext& ctx_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;  // idle timeout, or the linger deadline; initialised on first use
  uv_write_t write_request_;
  uv_shutdown_t shutdown_request_;
  uv_buf_t write_bufs_[2];  // what the uv_write in flight still sends

  UvBuffer input_;
  std::size_t input_begin_ = 0;    // first byte still held by this batch
  std::size_t input_decoded_ = 0;  // first byte not decoded yet
  std::size_t input_end_ = 0;      // end of the received bytes
  std::size_t echo_begin_ = 0;     // this batch's echoed frames: [echo_begin_, echo_end_)
  std::size_t echo_end_ = 0;
  UvBuffer output_;
  std::size_t output_end_ = 0;       // replies the service wrote in this batch: [0, output_end_)
  std::size_t write_remaining_ = 0;  // bytes the uv_write in flight still sends

  State state_ = State::kOpen;
  CloseReason close_reason_ = CloseReason::kPeerClosed;
  bool reading_ = false;         // uv_read_start() is in effect
  bool reading_paused_ = false;  // backpressure
  bool writing_ = false;         // a uv_write is in flight: the buffers must not move
  bool peer_finished_ = false;   // UV_EOF
  bool draining_ = false;
  bool timer_initialised_ = false;
  int handles_open_ = 0;  // handles whose close callback is still due
  std::uint64_t last_progress_ms_ = 0;
};

}  // namespace ringwire
