#pragma once
// ClientConnection: one load connection. Owned by its Worker; owns its socket, its input
// RingBuffer, its output buffer and its InflightQueue; its worker's loop thread only.
//
// Data path per wake-up: one recv() into the ring -> decode every whole reply in place
// (frame.h) -> check it against the oldest request in flight and record its latency -> refill
// (closed loop: back to --depth in flight; open loop: due frames up to the cap) -> build all new
// frames back to back in the output buffer -> one send(). No allocation per frame.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "inflight_queue.h"
#include "load_stats.h"
#include "ringwire/event_loop.h"
#include "ringwire/net.h"
#include "ringwire/ring_buffer.h"
#include "ringwire/unique_fd.h"

namespace ringwire::load {

class Worker;

class ClientConnection final : public IoHandler {
 public:
  ClientConnection(Worker& worker, std::size_t local_index);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Starts a non-blocking connect; the worker hears the outcome through on_connect_finished().
  void connect(const SocketAddress& server, const SocketAddress* source);
  bool connecting() const { return state_ == State::kConnecting; }
  bool open() const { return state_ == State::kOpen; }

  // Open loop: one frame became due at `scheduled_ns`; pump() sends it when the cap allows.
  void enqueue(std::int64_t scheduled_ns);
  // Builds every frame that may go now and sends them in one send().
  void pump(std::int64_t now);
  // Closes the socket (idempotent); `reason` is counted unless it is nullptr.
  void close(const ErrorKind* reason = nullptr);

  void on_io(const Event& event) override;

  // Fairness, inside the measurement window.
  std::uint64_t frames_in_window() const { return frames_in_window_; }
  std::int64_t max_gap_ns() const { return max_gap_ns_; }
  // Ends the window: the time since the last progress is a gap too (a dead connection's is long).
  void close_gap(std::int64_t now);
  // A reply (or, for discard, a send) made progress at `now`: tracks the longest gap.
  void note_progress(std::int64_t now);

 private:
  enum class State : std::uint8_t { kIdle, kConnecting, kOpen, kClosed };

  void finish_connect();
  void fail_connect(int error);  // counts `error`, closes, tells the worker
  void fail_io(int error);       // a send/recv failure: counts `error` and closes
  // --churn: the connection's frames are all answered: close it and connect the slot again.
  void end_cycle(std::int64_t now);
  // --reconnect: the server closed gracefully: connect again, keeping the frames not answered
  // (due again, with their sequence numbers and first send times) to send on the new connection.
  void resume_elsewhere();
  void on_readable();
  void on_reply(std::span<const std::byte> payload, std::int64_t now);
  void append_frame(std::int64_t now);
  void flush(std::int64_t now);
  bool output_room() const;

  Worker& worker_;
  std::size_t local_index_;
  State state_ = State::kIdle;
  UniqueFd fd_;
  IoToken token_ = 0;
  bool want_write_ = false;
  std::int64_t connect_started_ns_ = 0;

  RingBuffer input_;
  std::vector<std::byte> output_;  // frames not yet accepted by the kernel: [out_head_, out_tail_)
  std::size_t out_head_ = 0;
  std::size_t out_tail_ = 0;
  InflightQueue inflight_;
  std::uint64_t next_send_sequence_ = 0;
  std::uint64_t next_reply_sequence_ = 0;
  bool log_latency_ = false;         // --hist-log: each latency goes to the interval log too
  std::uint32_t cycle_sent_ = 0;     // --churn: frames sent on this connection
  std::uint32_t cycle_replied_ = 0;  // ... and answered
  bool resuming_ = false;            // --reconnect: the next connect carries the frames owed

  std::uint64_t frames_in_window_ = 0;
  std::int64_t last_progress_ns_ = 0;
  std::int64_t max_gap_ns_ = 0;
};

}  // namespace ringwire::load
