#include "ringwire/connection.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

#include "ringwire/frame.h"
#include "ringwire/log.h"

namespace ringwire {

Connection::Connection(ConnectionContext& context, UniqueFd socket, const SocketAddress& peer)
    : ctx_(context), socket_(std::move(socket)), peer_(peer) {}

Connection::~Connection() {
  // Normally after_event() released everything; this covers destruction of a live connection
  // (the owner going away with its loop).
  ctx_.loop.cancel_timer(timer_);
  if (token_ != 0 && socket_) ctx_.loop.remove_io(token_);
  give_back(input_);
  give_back(output_);
  drop_pipe();
}

void Connection::start() {
  set_no_delay(socket_.get());
  token_ = ctx_.loop.add_io(socket_.get(), Interest::kRead, *this);
  last_progress_ = ctx_.loop.now();
  if (ctx_.limits.idle_timeout > Clock::duration::zero()) {
    arm_timer(last_progress_ + ctx_.limits.idle_timeout);
  }
}

// ---- entry points: each ends with after_event() ----

void Connection::on_io(const Event& event) {
  if (event.flags & kEventError) {
    close_now(state_ == State::kLingering ? close_reason_ : CloseReason::kPeerReset);
  } else if (state_ == State::kLingering) {
    linger_read();
  } else {
    if (event.flags & kEventWritable) send_pending();
    if ((event.flags & (kEventReadable | kEventHangup)) && can_read()) handle_readable();
    if (event.flags & kEventHangup) {
      // Both directions are shut, or the peer reset: what we owe can no longer be delivered.
      close_now(CloseReason::kPeerReset);
    }
  }
  after_event();
}

void Connection::begin_drain() {
  draining_ = true;
  after_event();
}

void Connection::abort(CloseReason reason) {
  close_now(reason);
  after_event();
}

void Connection::on_timer() {
  timer_ = kNoTimer;
  if (state_ == State::kLingering) {
    close_now(close_reason_);
  } else if (state_ != State::kClosed) {
    const TimePoint deadline = last_progress_ + ctx_.limits.idle_timeout;
    if (ctx_.loop.now() >= deadline) {
      log(LogLevel::kDebug, "{}: idle for {} ms, closing", peer_.to_string(),
          std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.limits.idle_timeout).count());
      close_now(CloseReason::kIdleTimeout);
    } else {
      arm_timer(deadline);  // progress since arming: re-arm once, not once per frame
    }
  }
  after_event();
}

void Connection::after_event() {
  if (draining_ && state_ == State::kOpen && quiet()) {
    // Everything that arrived is answered. Shut our side and linger rather than close(): replies
    // may still sit in the kernel's send queue (the peer reads slowly), and a close() that races
    // with the peer's next bytes resets the connection and destroys them.
    flush_then_close(CloseReason::kDrained);
  }
  if (state_ != State::kClosed) {
    update_backpressure();
    if (input_.mapped() && input_.empty()) give_back(input_);
    if (output_.mapped() && output_.empty()) give_back(output_);
    if (pipe_.valid() && pipe_bytes() == 0 && !in_transit()) ctx_.pipes.release(std::move(pipe_));
    Interest interest = Interest::kNone;
    if (can_read() || state_ == State::kLingering) interest = interest | Interest::kRead;
    if (want_write_) interest = interest | Interest::kWrite;
    ctx_.loop.set_interest(token_, interest);
    return;
  }
  ctx_.loop.cancel_timer(timer_);
  timer_ = kNoTimer;
  ctx_.loop.remove_io(token_);
  token_ = 0;
  give_back(input_);
  give_back(output_);
  drop_pipe();
  // Counted before the socket closes, so whoever sees the close (a peer, a test) sees the count.
  ctx_.stats.count_close(close_reason_);
  ctx_.stats.connections_open.sub();
  socket_.reset();
  ctx_.on_closed(*this);  // destroys this connection: nothing may follow
}

// ---- reading ----

bool Connection::can_read() const {
  return state_ == State::kOpen && !peer_finished_ && !reading_paused_ && !pipe_full_;
}

void Connection::handle_readable() {
  for (int i = 0; i < kMaxReadsPerWakeup && can_read(); ++i) {
    const bool more = in_transit() ? splice_in() : peek_next_ ? peek_header() : receive_once();
    process_input();
    // While large frames stream in one after another, whole frames gather in the pipe and go out
    // together below: one splice and fewer, fuller segments instead of one of each per frame.
    if (!peek_next_) send_pending();
    update_backpressure();
    if (!more) break;
  }
  send_pending();
  if (peer_finished_ && state_ == State::kOpen) on_peer_finished();
}

// One recv() into the input ring. Returns whether the socket may have more right now.
bool Connection::receive_once() {
  if (!make_input_room()) {
    update_backpressure();
    return false;
  }
  const std::span<std::byte> room = input_.writable();
  const ssize_t n = ::recv(socket_.get(), room.data(), room.size(), 0);
  if (n > 0) {
    const auto received = static_cast<std::size_t>(n);
    input_.commit(received);
    ctx_.stats.bytes_received.add(received);
    return received == room.size();  // a short read means the socket is drained
  }
  if (n == 0) {
    peer_finished_ = true;
    return false;
  }
  if (errno == EINTR) return true;
  if (errno != EAGAIN && errno != EWOULDBLOCK) close_now(CloseReason::kPeerReset);
  return false;
}

// Makes free space in the input ring, taking one from the pool or growing it when a single
// partial frame fills it. False when the ring is full of frames whose replies are still unsent.
bool Connection::make_input_room() {
  try {
    if (!input_.mapped()) input_ = take_ring(RingPool::kMinRingCapacity);
    if (!input_.full()) return true;
    // Owed bytes wait for a send; undecoded ones wait for the pipe ahead of them to be sent.
    if (owed_in_input() > 0 || pipe_bytes() > 0) return false;
    // Full, nothing owed, and every complete frame was processed: one frame bigger than the ring.
    // Double it: memory follows the bytes that actually arrive, never the announced length.
    RingBuffer larger = take_ring(2 * input_.capacity());
    const auto bytes = input_.readable();
    std::memcpy(larger.writable().data(), bytes.data(), bytes.size());
    larger.commit(bytes.size());
    give_back(input_);
    input_ = std::move(larger);
    return true;
  } catch (const std::system_error& error) {
    log(LogLevel::kWarn, "{}: no ring buffer for the connection ({}), closing", peer_.to_string(),
        error.what());
    close_now(CloseReason::kOutOfMemory);
    return false;
  }
}

void Connection::process_input() {
  // After the peer's EOF every complete frame is still answered; after an error nothing more is.
  const auto decoding = [this] {
    return state_ == State::kOpen ||
           (state_ == State::kFlushThenClose && close_reason_ == CloseReason::kPeerClosed);
  };
  // Bytes behind a pipe's are decoded only once the pipe is sent, so the replies keep their order.
  while (decoding() && skipped_bytes_ == 0 && pipe_bytes() == 0 && !in_transit() &&
         input_.mapped()) {
    const auto pending = input_.readable().subspan(echo_bytes_);
    const FrameView frame = decode_frame(pending, ctx_.limits.max_frame);
    if (frame.status == FrameStatus::kNeedMore) {
      begin_pass_through(frame, pending.size());
      return;
    }
    if (frame.status == FrameStatus::kTooLarge) {
      ctx_.stats.frames_oversized.add();
      protocol_error("frame length over --max-frame", frame.length);
      return;
    }
    ctx_.stats.frames_received.add();
    last_progress_ = ctx_.loop.now();
    spilled_ = false;
    FrameResult result;
    try {
      result = ctx_.service.on_frame(frame.payload, *this);
    } catch (const std::bad_alloc&) {
      close_now(CloseReason::kOutOfMemory);
      return;
    } catch (const std::system_error&) {
      close_now(CloseReason::kOutOfMemory);
      return;
    }
    switch (result.verdict) {
      case FrameVerdict::kEcho:
        if (output_.empty()) {
          echo_bytes_ += frame.needed;  // sent from where it lies
        } else {
          // Replies written by the service are queued: keep the order by queueing a copy.
          std::memcpy(append(frame.needed).data(), pending.data(), frame.needed);
          skip_frame(frame.needed);
        }
        break;
      case FrameVerdict::kDone:
        skip_frame(frame.needed);
        break;
      case FrameVerdict::kProtocolError:
        skip_frame(frame.needed);
        protocol_error(result.error, frame.length);
        return;
    }
  }
}

// ---- pass-through ----

// Starts passing `frame` through when it qualifies; `in_ring` of its bytes are already in the
// input ring (after the echoed prefix). Nothing has been sized from its length but the check
// against the pipe's capacity, and the length was checked against max-frame when decoded.
bool Connection::begin_pass_through(const FrameView& frame, std::size_t in_ring) {
  if (!ctx_.pass_through || spilled_ || state_ != State::kOpen || peer_finished_ ||
      frame.needed < kPassThroughMinFrame || frame.needed > PipePool::kPipeCapacity ||
      !output_.empty() || skipped_bytes_ > 0) {
    return false;
  }
  if (!pipe_.valid()) pipe_ = ctx_.pipes.acquire();
  if (!pipe_.valid() || pipe_bytes() + frame.needed > pipe_.capacity()) return false;
  transit_prefix_ = in_ring;
  transit_left_ = frame.needed - in_ring;
  return true;
}

// Right after a passed-through frame the ring holds nothing undecoded: look at the next header
// without taking it, so a large frame goes to the pipe whole. Anything else is read into the ring.
bool Connection::peek_header() {
  std::byte header[kFrameHeaderSize];
  const ssize_t n = ::recv(socket_.get(), header, sizeof header, MSG_PEEK);
  if (n == static_cast<ssize_t>(sizeof header)) {
    const FrameView frame = decode_frame(header, ctx_.limits.max_frame);
    if (frame.status == FrameStatus::kNeedMore && pipe_bytes() > 0 &&
        pipe_bytes() + frame.needed > pipe_.capacity()) {
      send_pending();  // the frames gathered in the pipe leave room for this one
      if (pipe_bytes() > 0) {
        pipe_full_ = true;  // the socket is full: read again once splice_out() makes room
        return false;
      }
    }
    if (frame.status == FrameStatus::kNeedMore && begin_pass_through(frame, 0)) return splice_in();
  } else if (n < 0) {
    if (errno == EINTR) return true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
  }
  peek_next_ = false;  // a small or oversized frame, a split header, EOF or an error
  return receive_once();
}

// Moves the frame in transit from the socket into the pipe. Returns whether to read again now.
bool Connection::splice_in() {
  const ssize_t n = ::splice(socket_.get(), nullptr, pipe_.write_fd(), nullptr, transit_left_,
                             SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  if (n > 0) {
    const auto moved = static_cast<std::size_t>(n);
    ctx_.stats.bytes_received.add(moved);
    last_progress_ = ctx_.loop.now();  // a large frame in transit is progress, not idleness
    pipe_held_ += moved;
    transit_left_ -= moved;
    if (transit_left_ > 0) return false;  // short: the socket is drained (or the pipe is full)
    finish_pass_through();
    return true;
  }
  if (n == 0) {
    peer_finished_ = true;
    return false;
  }
  if (errno == EINTR) return true;
  if (errno != EAGAIN && errno != EWOULDBLOCK) {
    close_now(CloseReason::kPeerReset);
    return false;
  }
  // EAGAIN means an empty socket or a full pipe; only the socket can tell which.
  int unread = 0;
  if (pipe_bytes() == 0 || ::ioctl(socket_.get(), FIONREAD, &unread) != 0) return false;
  if (unread == 0) {
    // Empty, or at the peer's EOF: splice checks the pipe first, so a full pipe hides the EOF
    // behind EAGAIN, and the socket, readable for ever, would spin the loop.
    std::byte probe;
    if (::recv(socket_.get(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0) peer_finished_ = true;
    return false;
  }
  if (pipe_ready_ > 0) {
    pipe_full_ = true;  // sending the owed bytes makes room
  } else {
    spill_to_ring();  // the frame alone filled the pipe's slots
  }
  return false;
}

// The frame in transit is whole: its reply is owed, the ring prefix first, then the pipe.
void Connection::finish_pass_through() {
  ctx_.stats.frames_received.add();
  ctx_.stats.frames_passed_through.add();
  echo_bytes_ += transit_prefix_;
  pipe_ready_ += pipe_held_;
  transit_prefix_ = pipe_held_ = 0;
  peek_next_ = true;
}

// Reads the bytes of the frame in transit back from the pipe into the input ring, which then
// holds the whole frame so far; the frame finishes on the ring path. Rare: see connection.h.
void Connection::spill_to_ring() {
  ctx_.stats.pass_through_spills.add();
  try {
    // Room for the whole frame (at most the pipe's capacity, so bounded) after what the ring has.
    const std::size_t have = input_.mapped() ? input_.size() : 0;
    const std::size_t need = have + pipe_held_ + transit_left_;
    if (!input_.mapped() || input_.capacity() < need) {
      RingBuffer larger = take_ring(need);
      if (have > 0) {
        std::memcpy(larger.writable().data(), input_.readable().data(), have);
        larger.commit(have);
      }
      give_back(input_);
      input_ = std::move(larger);
    }
  } catch (const std::system_error& error) {
    log(LogLevel::kWarn, "{}: no ring buffer for the connection ({}), closing", peer_.to_string(),
        error.what());
    close_now(CloseReason::kOutOfMemory);
    return;
  }
  while (pipe_held_ > 0) {
    const auto room = input_.writable();
    const ssize_t n = ::read(pipe_.read_fd(), room.data(), std::min(room.size(), pipe_held_));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      close_now(CloseReason::kPeerReset);  // a pipe that loses bytes it holds: cannot go on
      return;
    }
    input_.commit(static_cast<std::size_t>(n));
    pipe_held_ -= static_cast<std::size_t>(n);
  }
  transit_prefix_ = transit_left_ = 0;
  spilled_ = true;
  peek_next_ = false;
}

// Sends owed pipe bytes. False when the socket is full (want_write_ is set) or the send failed.
bool Connection::splice_out() {
  const ssize_t n = ::splice(pipe_.read_fd(), nullptr, socket_.get(), nullptr, pipe_ready_,
                             SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  if (n < 0) {
    if (errno == EINTR) return true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      want_write_ = true;
    } else {
      close_now(CloseReason::kPeerReset);
    }
    return false;
  }
  const auto sent = static_cast<std::size_t>(n);
  const bool whole = sent == pipe_ready_;
  ctx_.stats.bytes_sent.add(sent);
  last_progress_ = ctx_.loop.now();
  pipe_ready_ -= sent;
  pipe_full_ = false;
  if (pipe_bytes() == 0 && !in_transit()) process_input();  // decoding waited behind the pipe
  if (!whole) want_write_ = true;                           // the socket buffer is full
  return whole;
}

// Gives an empty pipe back to the pool; closes one that still holds bytes (they are dropped).
void Connection::drop_pipe() {
  if (pipe_.valid() && pipe_bytes() == 0) ctx_.pipes.release(std::move(pipe_));
  pipe_ = Pipe();
  transit_prefix_ = transit_left_ = pipe_held_ = pipe_ready_ = 0;
  pipe_full_ = peek_next_ = false;
}

// Drops a handled frame that is not echoed. Behind an unsent echoed prefix it cannot be cut out
// of the ring, so decoding pauses until that prefix is sent (see release_sent_echo).
void Connection::skip_frame(std::size_t size) {
  if (echo_bytes_ == 0) {
    input_.consume(size);
  } else {
    skipped_bytes_ = size;
  }
}

void Connection::on_peer_finished() { flush_then_close(CloseReason::kPeerClosed); }

void Connection::protocol_error(std::string_view what, std::uint32_t length) {
  log(LogLevel::kWarn,
      "{}: protocol error: {} (length {}, limit {}); closing after {} byte(s) "
      "of replies owed",
      peer_.to_string(), what, length, ctx_.limits.max_frame, unsent());
  flush_then_close(CloseReason::kProtocolError);
}

// ---- writing ----

std::span<std::byte> Connection::append(std::size_t n) {
  if (!output_.mapped()) output_ = take_ring(std::max(n, RingPool::kMinRingCapacity));
  if (output_.free_space() < n) {
    RingBuffer larger = take_ring(output_.size() + n);
    const auto bytes = output_.readable();
    std::memcpy(larger.writable().data(), bytes.data(), bytes.size());
    larger.commit(bytes.size());
    give_back(output_);
    output_ = std::move(larger);
  }
  const std::span<std::byte> room = output_.writable().first(n);
  output_.commit(n);
  return room;
}

void Connection::send_pending() {
  while (unsent() > 0 && state_ != State::kClosed) {
    if (echo_bytes_ == 0 && pipe_ready_ > 0) {  // the pipe's bytes follow the echoed prefix
      if (!splice_out()) return;
      continue;
    }
    const bool from_input = echo_bytes_ > 0;
    const auto bytes = from_input ? input_.readable().first(echo_bytes_) : output_.readable();
    // A frame's ring prefix followed by its pipe bytes: let TCP fill segments across the two.
    const int more = from_input && pipe_ready_ > 0 ? MSG_MORE : 0;
    const ssize_t n = ::send(socket_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | more);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        want_write_ = true;
        return;
      }
      close_now(CloseReason::kPeerReset);
      return;
    }
    const auto sent = static_cast<std::size_t>(n);
    ctx_.stats.bytes_sent.add(sent);
    last_progress_ = ctx_.loop.now();
    if (from_input) {
      release_sent_echo(sent);
    } else {
      output_.consume(sent);
    }
    if (sent < bytes.size()) {  // the socket buffer is full
      want_write_ = true;
      return;
    }
  }
  want_write_ = false;
  maybe_finish_flush();
}

void Connection::release_sent_echo(std::size_t n) {
  input_.consume(n);
  echo_bytes_ -= n;
  if (echo_bytes_ == 0 && skipped_bytes_ > 0) {
    input_.consume(skipped_bytes_);
    skipped_bytes_ = 0;
    process_input();  // decoding paused behind the echoed prefix: resume it
  }
}

void Connection::update_backpressure() {
  // While a frame passes through, reading goes to the pipe: the ring (holding at most that frame's
  // prefix, which leaves only once the frame is whole) must not hold reading back.
  const bool ring_matters = input_.mapped() && !in_transit();
  // Ring bytes wait for a send (owed) or for the pipe ahead of them; with neither, a full ring
  // holds one partial frame and make_input_room() grows it, so reading may go on.
  const bool ring_waits = owed_in_input() > 0 || pipe_bytes() > 0;
  const bool input_blocked = ring_matters && input_.full() && ring_waits;
  if (!reading_paused_) {
    if (unsent() >= ctx_.limits.high_water || input_blocked) {
      reading_paused_ = true;
      ctx_.stats.backpressure_pauses.add();
    }
  } else if (unsent() <= ctx_.limits.low_water && !input_blocked &&
             (!ring_matters || !ring_waits || input_.free_space() >= input_.capacity() / 4)) {
    // The quarter-free hysteresis is for a ring of frames still owed a reply (or waiting behind
    // the pipe); with none, what fills the ring is one partial frame, and only reading (which
    // grows the ring) completes it.
    reading_paused_ = false;
  }
}

// ---- closing ----

void Connection::flush_then_close(CloseReason reason) {
  state_ = State::kFlushThenClose;
  close_reason_ = reason;
  send_pending();
}

void Connection::maybe_finish_flush() {
  if (state_ != State::kFlushThenClose || unsent() > 0) return;
  if (peer_finished_) {
    // Every complete frame was answered: what is left is an incomplete last frame, in the ring
    // or (passing through) in the ring and the pipe.
    const std::size_t partial = (input_.mapped() ? input_.size() : 0) + pipe_held_;
    if (partial > 0) {
      ctx_.stats.trailing_bytes_dropped.add(partial);
      log(LogLevel::kDebug, "{}: closed its side with {} byte(s) of an incomplete frame",
          peer_.to_string(), partial);
    }
    close_now(close_reason_);
  } else {
    start_lingering();
  }
}

void Connection::start_lingering() {
  ::shutdown(socket_.get(), SHUT_WR);
  state_ = State::kLingering;
  give_back(input_);
  echo_bytes_ = skipped_bytes_ = 0;
  drop_pipe();
  arm_timer(ctx_.loop.now() + kLingerTimeout);
}

void Connection::linger_read() {
  std::byte sink[16 * 1024];
  for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
    const ssize_t n = ::recv(socket_.get(), sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    close_now(close_reason_);  // EOF or error: the peer is done
    return;
  }
}

void Connection::close_now(CloseReason reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  close_reason_ = reason;
}

bool Connection::quiet() const {
  if (unsent() > 0 || pipe_bytes() > 0 || in_transit() || (input_.mapped() && !input_.empty())) {
    return false;
  }
  int unread = 0;
  return ::ioctl(socket_.get(), FIONREAD, &unread) == 0 && unread == 0;
}

// ---- timers and rings ----

void Connection::arm_timer(TimePoint deadline) {
  ctx_.loop.cancel_timer(timer_);
  timer_ = ctx_.loop.add_timer(deadline, [this] { on_timer(); });
}

RingBuffer Connection::take_ring(std::size_t min_capacity) {
  RingBuffer ring = ctx_.rings.acquire(min_capacity);
  ctx_.stats.ring_bytes_lent.add(ring.capacity());
  return ring;
}

void Connection::give_back(RingBuffer& ring) {
  if (!ring.mapped()) return;
  ctx_.stats.ring_bytes_lent.sub(ring.capacity());
  ctx_.rings.release(std::move(ring));
}

}  // namespace ringwire
