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
//     two uv_buf_t (a writev, no request, no callback). No copy of an echoed payload, no
//     allocation per frame.
//   - What the socket does not take is queued with uv_write in a UvWrite that takes over the
//     batch's buffers (not a copy of their bytes); the connection goes on in a fresh pooled
//     buffer, carrying over only the undecoded tail. While writes are queued, later batches queue
//     too (uv_try_write would jump the queue), so order is kept.
//   - Between batches the undecoded tail is moved to the front when less than half the buffer is
//     free (at most one partial frame's bytes), and a buffer full of one partial frame doubles.
//   - Backpressure counts the queued bytes against the high/low water marks, and also the buffer
//     memory the queued writes hold (a tiny batch holds a whole buffer), capped at
//     kMaxHeldByWrites.
//
// Backpressure, half-close, protocol errors (replies owed, then shutdown and linger), idle
// timeout and drain behave as in the native Connection (see ringwire/connection.h).

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/uv_buffer_pool.h"
#include "ringwire/connection.h"
#include "ringwire/service.h"
#include "ringwire/stats.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

class UvConnection;

// UvWrite: one queued write — the bytes of a batch the socket did not take, in the buffers they
// were decoded in. Owned by libuv from uv_write() until its callback, otherwise by a UvWritePool.
struct UvWrite {
  uv_write_t request;
  UvConnection* connection = nullptr;
  UvBuffer input;   // the batch's input buffer, when its echoed slice is not all sent
  UvBuffer output;  // the batch's output buffer, when it has unsent replies
  std::size_t size = 0;
};

// UvWritePool: spare UvWrites of one loop, so queueing a write allocates nothing in the steady
// state. Owned by the loop's part of the UvEngine; loop thread only. O(1) acquire and release.
class UvWritePool {
 public:
  // Spares kept at most: enough for a burst of backpressured connections; each is ~150 bytes.
  static constexpr std::size_t kMaxSpares = 1024;

  std::unique_ptr<UvWrite> acquire() {
    if (spares_.empty()) return std::make_unique<UvWrite>();
    std::unique_ptr<UvWrite> write = std::move(spares_.back());
    spares_.pop_back();
    return write;
  }
  void release(std::unique_ptr<UvWrite> write) {
    if (spares_.size() < kMaxSpares) spares_.push_back(std::move(write));
  }

 private:
  std::vector<std::unique_ptr<UvWrite>> spares_;
};

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
  UvWritePool& writes;
  Service& service;
  LoopStats& stats;
  const ConnectionLimits& limits;
  UvConnectionOwner& owner;
};

class UvConnection final : private ReplyWriter {
 public:
  // Buffer memory the queued writes of one connection may hold before reading pauses, whatever
  // their byte count: bounds what a peer that stops reading costs us (the high-water mark bounds
  // bytes; this bounds the buffers they sit in).
  static constexpr std::size_t kMaxHeldByWrites = 512 * 1024;

  explicit UvConnection(UvConnectionContext& context);
  ~UvConnection();
  UvConnection(const UvConnection&) = delete;
  UvConnection& operator=(const UvConnection&) = delete;

  // Takes an accepted socket and starts reading; closes at once if libuv cannot adopt it.
  void start(UniqueFd socket);
  // The server is draining: close as soon as nothing is unread, partial or unsent.
  void begin_drain();
  // Closes now (drain timeout, shutdown).
  void abort(CloseReason reason);

  std::size_t index_in_owner = 0;  // the owner's bookkeeping (O(1) removal)

 private:
  using State = ConnectionState;

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
  void queue_rest(const uv_buf_t* bufs, unsigned count, std::size_t sent, std::size_t total);
  void write_done(std::unique_ptr<UvWrite> write, int status);
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
  bool writing() const { return writes_queued_ > 0; }
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
  uv_shutdown_t shutdown_request_;

  UvBuffer input_;
  std::size_t input_begin_ = 0;    // first byte still held by this batch
  std::size_t input_decoded_ = 0;  // first byte not decoded yet
  std::size_t input_end_ = 0;      // end of the received bytes
  std::size_t echo_begin_ = 0;     // this batch's echoed frames: [echo_begin_, echo_end_)
  std::size_t echo_end_ = 0;
  UvBuffer output_;
  std::size_t output_end_ = 0;     // replies the service wrote in this batch: [0, output_end_)
  std::size_t writes_queued_ = 0;  // UvWrites in flight
  std::size_t queued_bytes_ = 0;   // their unsent bytes
  std::size_t queued_held_ = 0;    // the buffer capacity they hold

  State state_ = State::kOpen;
  CloseReason close_reason_ = CloseReason::kPeerClosed;
  bool reading_ = false;         // uv_read_start() is in effect
  bool reading_paused_ = false;  // backpressure
  bool peer_finished_ = false;   // UV_EOF
  bool draining_ = false;
  bool timer_initialised_ = false;
  int handles_open_ = 0;  // handles whose close callback is still due
  std::uint64_t last_progress_ms_ = 0;
};

}  // namespace ringwire
