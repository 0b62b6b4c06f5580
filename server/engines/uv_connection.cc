#include "engines/uv_connection.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <system_error>

#include "ringwire/frame.h"
#include "ringwire/log.h"
#include "ringwire/net.h"

namespace ringwire {
namespace {

UvConnection& self(void* data) { return *static_cast<UvConnection*>(data); }

std::uint64_t to_ms(Clock::duration duration) {
  return static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(duration).count());
}

}  // namespace

UvConnection::UvConnection(UvConnectionContext& context) : ctx_(context) {
  uv_tcp_init(&ctx_.loop, &tcp_);
  tcp_.data = this;
  shutdown_request_.data = this;
  handles_open_ = 1;
}

UvConnection::~UvConnection() {
  give_back(input_);
  give_back(output_);
}

void UvConnection::start(UniqueFd socket) {
  if (uv_tcp_open(&tcp_, socket.get()) != 0) {
    close_now(CloseReason::kPeerReset);  // `socket` closes here
  } else {
    socket.release();          // the handle owns it now
    uv_tcp_nodelay(&tcp_, 1);  // small replies go out at once
    note_progress();
    if (ctx_.limits.idle_timeout > Clock::duration::zero()) {
      arm_timer(to_ms(ctx_.limits.idle_timeout));
    }
  }
  after_event();
}

// ---- entry points: each ends with after_event() ----

void UvConnection::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  *buf = self(handle->data).input_room();
}

void UvConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  UvConnection& c = self(stream->data);
  if (nread > 0) {
    c.received(static_cast<std::size_t>(nread));
  } else if (nread == UV_EOF) {
    c.peer_finished();
  } else if (nread != 0 && nread != UV_ENOBUFS) {  // ENOBUFS: no room; backpressure stops reading
    c.read_failed();
  }
  c.after_event();
}

void UvConnection::on_write(uv_write_t* request, int status) {
  std::unique_ptr<UvWrite> write(static_cast<UvWrite*>(request->data));
  UvConnection& c = *write->connection;
  c.write_done(std::move(write), status);
  c.after_event();
}

void UvConnection::on_shutdown(uv_shutdown_t*, int) {
  // Nothing to do: lingering ends on the peer's EOF or the linger timer.
}

void UvConnection::on_timer(uv_timer_t* timer) {
  UvConnection& c = self(timer->data);
  c.timer_fired();
  c.after_event();
}

void UvConnection::on_handle_closed(uv_handle_t* handle) {
  UvConnection& c = self(handle->data);
  if (--c.handles_open_ == 0) c.ctx_.owner.on_closed(c);  // destroys c: nothing may follow
}

void UvConnection::begin_drain() {
  draining_ = true;
  after_event();
}

void UvConnection::abort(CloseReason reason) {
  close_now(reason);
  after_event();
}

void UvConnection::after_event() {
  if (state_ == State::kClosed) {
    if (handles_open_ == 0 || uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) return;
    ctx_.stats.count_close(close_reason_);
    ctx_.stats.connections_open.sub();
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_handle_closed);
    if (timer_initialised_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_handle_closed);
    return;
  }
  if (draining_ && state_ == State::kOpen && quiet()) {
    // Everything that arrived is answered. Shut our side and linger rather than close: replies
    // may still sit in the kernel's send queue, and a close that races the peer's next bytes
    // resets the connection and destroys them (as in the native Connection).
    flush_then_close(CloseReason::kDrained);
  }
  if (state_ == State::kFlushThenClose && !writing()) finish_flush();
  if (state_ == State::kClosed) {
    after_event();
    return;
  }
  update_backpressure();
  update_reading();
  if (input_ && input_end_ == 0) give_back(input_);
  if (output_ && output_end_ == 0) give_back(output_);
}

// ---- reading ----

bool UvConnection::can_read() const {
  if (state_ == State::kLingering) return true;
  return state_ == State::kOpen && !peer_finished_ && !reading_paused_;
}

void UvConnection::update_reading() {
  const bool want = can_read();
  if (want == reading_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    if (uv_read_start(stream, on_alloc, on_read) != 0) {
      close_now(CloseReason::kPeerReset);
      after_event();
      return;
    }
  } else {
    uv_read_stop(stream);
  }
  reading_ = want;
}

// The free tail of the input buffer, for libuv to read into, made roomy first. Called between
// batches: only an undecoded partial frame is held.
uv_buf_t UvConnection::input_room() {
  try {
    if (!input_) input_ = take_buffer(UvBufferPool::kMinCapacity);
    if (state_ == State::kLingering) {
      input_begin_ = input_decoded_ = input_end_ = 0;  // the peer's bytes are dropped
    } else {
      const std::size_t held = input_end_ - input_begin_;  // only a partial frame between batches
      if (input_begin_ > 0 && input_.capacity - input_end_ < input_.capacity / 2) {
        std::memmove(input_.data(), input_.data() + input_begin_, held);
        input_begin_ = input_decoded_ = 0;
        input_end_ = held;
      }
      if (input_end_ == input_.capacity) {
        // One frame bigger than the buffer: double it. Memory follows the bytes that actually
        // arrive, never the announced length.
        UvBuffer larger = take_buffer(2 * input_.capacity);
        std::memcpy(larger.data(), input_.data() + input_begin_, held);
        give_back(input_);
        input_ = std::move(larger);
        input_begin_ = input_decoded_ = 0;
        input_end_ = held;
      }
    }
  } catch (const std::bad_alloc&) {
    log(LogLevel::kWarn, "{}: no buffer for the connection, closing", peer_name());
    close_now(CloseReason::kOutOfMemory);
    return uv_buf_init(nullptr, 0);  // libuv reports UV_ENOBUFS; after_event() closes
  }
  return uv_buf_init(reinterpret_cast<char*>(input_.data() + input_end_),
                     static_cast<unsigned>(input_.capacity - input_end_));
}

void UvConnection::received(std::size_t n) {
  if (state_ == State::kLingering) {
    input_end_ = 0;
    return;
  }
  input_end_ += n;
  ctx_.stats.bytes_received.add(n);
  process_input();
  send_batch();
}

void UvConnection::peer_finished() {
  peer_finished_ = true;
  if (state_ == State::kLingering) {
    close_now(close_reason_);
  } else if (state_ == State::kOpen) {
    flush_then_close(CloseReason::kPeerClosed);
    process_input();  // normally a no-op: every complete frame was decoded as it arrived
    send_batch();
  }
}

void UvConnection::read_failed() {
  close_now(state_ == State::kLingering ? close_reason_ : CloseReason::kPeerReset);
}

void UvConnection::process_input() {
  // After the peer's EOF every complete frame is still answered; after an error nothing more is.
  const auto decoding = [this] {
    return state_ == State::kOpen ||
           (state_ == State::kFlushThenClose && close_reason_ == CloseReason::kPeerClosed);
  };
  while (decoding()) {
    const std::size_t start = input_decoded_;
    const std::span<const std::byte> pending(input_.data() + start, input_end_ - start);
    const FrameView frame = decode_frame(pending, ctx_.limits.max_frame);
    if (frame.status == FrameStatus::kNeedMore) return;
    if (frame.status == FrameStatus::kTooLarge) {
      ctx_.stats.frames_oversized.add();
      protocol_error("frame length over --max-frame", frame.length);
      return;
    }
    ctx_.stats.frames_received.add();
    input_decoded_ = start + frame.needed;
    try {
      const FrameResult result = ctx_.service.on_frame(frame.payload, *this);
      if (result.verdict == FrameVerdict::kProtocolError) {
        protocol_error(result.error, frame.length);
        return;
      }
      if (result.verdict != FrameVerdict::kEcho) continue;
      if (output_end_ == 0 && (echo_end_ == echo_begin_ || echo_end_ == start)) {
        if (echo_end_ == echo_begin_) echo_begin_ = start;
        echo_end_ = start + frame.needed;  // sent from where it lies
      } else {
        // Not contiguous with the echoed slice, or behind a service's reply: keep the order by
        // queueing a copy.
        std::memcpy(append(frame.needed).data(), pending.data(), frame.needed);
      }
    } catch (const std::bad_alloc&) {
      close_now(CloseReason::kOutOfMemory);
      return;
    }
  }
}

// ---- writing ----

std::span<std::byte> UvConnection::append(std::size_t n) {
  if (!output_ || output_.capacity - output_end_ < n) {
    UvBuffer larger = take_buffer(output_end_ + n);
    if (output_end_ > 0) std::memcpy(larger.data(), output_.data(), output_end_);
    give_back(output_);
    output_ = std::move(larger);
  }
  const std::span<std::byte> room(output_.data() + output_end_, n);
  output_end_ += n;
  return room;
}

// Sends this batch's replies: the echoed slice of the input, then the service's output. One
// writev through uv_try_write; what the socket does not take is queued (queue_rest).
void UvConnection::send_batch() {
  if (state_ == State::kClosed) return;
  uv_buf_t bufs[2];
  unsigned count = 0;
  std::size_t total = 0;
  if (echo_end_ > echo_begin_) {
    bufs[count++] = uv_buf_init(reinterpret_cast<char*>(input_.data() + echo_begin_),
                                static_cast<unsigned>(echo_end_ - echo_begin_));
    total += echo_end_ - echo_begin_;
  }
  if (output_end_ > 0) {
    bufs[count++] =
        uv_buf_init(reinterpret_cast<char*>(output_.data()), static_cast<unsigned>(output_end_));
    total += output_end_;
  }
  std::size_t sent = 0;
  if (total > 0 && !writing()) {  // with writes queued, uv_try_write would jump the queue
    const int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs, count);
    if (written < 0 && written != UV_EAGAIN) {
      close_now(CloseReason::kPeerReset);
      return;
    }
    if (written > 0) {
      sent = static_cast<std::size_t>(written);
      ctx_.stats.bytes_sent.add(sent);
      note_progress();
    }
  }
  if (sent < total) queue_rest(bufs, count, sent, total);
  release_batch();
}

// Queues the unsent rest of a batch with uv_write. The UvWrite takes over the buffers the bytes
// lie in, so nothing is copied but the input's undecoded tail, into a fresh buffer.
void UvConnection::queue_rest(const uv_buf_t* bufs, unsigned count, std::size_t sent,
                              std::size_t total) {
  const std::size_t unsent = total - sent;
  uv_buf_t rest[2];
  unsigned queued = 0;
  bool rest_in_input = false;
  for (unsigned i = 0; i < count; ++i) {
    if (sent >= bufs[i].len) {
      sent -= bufs[i].len;
      continue;
    }
    if (i == 0 && echo_end_ > echo_begin_) rest_in_input = true;
    rest[queued++] = uv_buf_init(bufs[i].base + sent, static_cast<unsigned>(bufs[i].len - sent));
    sent = 0;
  }
  try {
    std::unique_ptr<UvWrite> write = ctx_.writes.acquire();
    write->connection = this;
    write->request.data = write.get();
    write->size = unsent;
    if (rest_in_input) {
      // Carry the undecoded tail over to a buffer of the same size (a large frame keeps its room).
      const std::size_t tail = input_end_ - input_decoded_;
      UvBuffer fresh = take_buffer(input_.capacity);
      std::memcpy(fresh.data(), input_.data() + input_decoded_, tail);
      write->input = std::exchange(input_, std::move(fresh));
      input_begin_ = input_decoded_ = echo_begin_ = echo_end_ = 0;
      input_end_ = tail;
    }
    if (output_end_ > 0) {
      write->output = std::exchange(output_, UvBuffer{});
      output_end_ = 0;
    }
    if (uv_write(&write->request, reinterpret_cast<uv_stream_t*>(&tcp_), rest, queued, on_write) !=
        0) {
      give_back(write->input);
      give_back(write->output);
      ctx_.writes.release(std::move(write));
      close_now(CloseReason::kPeerReset);
      return;
    }
    ++writes_queued_;
    queued_bytes_ += write->size;
    queued_held_ += write->input.capacity + write->output.capacity;
    write.release();  // libuv holds it until on_write
  } catch (const std::bad_alloc&) {
    close_now(CloseReason::kOutOfMemory);
  }
}

void UvConnection::write_done(std::unique_ptr<UvWrite> write, int status) {
  --writes_queued_;
  queued_bytes_ -= write->size;
  queued_held_ -= write->input.capacity + write->output.capacity;
  give_back(write->input);
  give_back(write->output);
  const std::size_t size = write->size;
  ctx_.writes.release(std::move(write));
  if (state_ == State::kClosed) return;  // UV_ECANCELED: the handle is closing
  if (status < 0) {
    close_now(CloseReason::kPeerReset);
    return;
  }
  ctx_.stats.bytes_sent.add(size);
  note_progress();
}

void UvConnection::release_batch() {
  input_begin_ = input_decoded_;
  echo_begin_ = echo_end_ = input_decoded_;
  output_end_ = 0;
  if (input_begin_ == input_end_)
    input_begin_ = input_decoded_ = input_end_ = echo_begin_ = echo_end_ = 0;
}

void UvConnection::update_backpressure() {
  if (!reading_paused_) {
    if (queued_bytes_ >= ctx_.limits.high_water || queued_held_ >= kMaxHeldByWrites) {
      reading_paused_ = true;
      ctx_.stats.backpressure_pauses.add();
    }
  } else if (queued_bytes_ <= ctx_.limits.low_water && queued_held_ < kMaxHeldByWrites) {
    reading_paused_ = false;
  }
}

// ---- closing ----

void UvConnection::protocol_error(std::string_view what, std::uint32_t length) {
  log(LogLevel::kWarn,
      "{}: protocol error: {} (length {}, limit {}); closing after the replies owed", peer_name(),
      what, length, ctx_.limits.max_frame);
  flush_then_close(CloseReason::kProtocolError);
}

void UvConnection::flush_then_close(CloseReason reason) {
  state_ = State::kFlushThenClose;
  close_reason_ = reason;
}

// Everything owed was sent (no write queued, the batch is out).
void UvConnection::finish_flush() {
  if (peer_finished_) {
    // Every complete frame was answered: what is left is an incomplete last frame.
    const std::size_t trailing = input_end_ - input_begin_;
    if (trailing > 0) {
      ctx_.stats.trailing_bytes_dropped.add(trailing);
      log(LogLevel::kDebug, "{}: closed its side with {} byte(s) of an incomplete frame",
          peer_name(), trailing);
    }
    close_now(close_reason_);
  } else {
    start_lingering();
  }
}

void UvConnection::start_lingering() {
  state_ = State::kLingering;
  input_begin_ = input_decoded_ = input_end_ = echo_begin_ = echo_end_ = 0;
  if (uv_shutdown(&shutdown_request_, reinterpret_cast<uv_stream_t*>(&tcp_), on_shutdown) != 0) {
    close_now(close_reason_);
    return;
  }
  arm_timer(to_ms(Connection::kLingerTimeout));
}

void UvConnection::timer_fired() {
  if (state_ == State::kLingering) {
    close_now(close_reason_);
    return;
  }
  if (state_ == State::kClosed) return;
  const std::uint64_t timeout = to_ms(ctx_.limits.idle_timeout);
  const std::uint64_t now = uv_now(&ctx_.loop);
  if (now - last_progress_ms_ >= timeout) {
    log(LogLevel::kDebug, "{}: idle for {} ms, closing", peer_name(), timeout);
    close_now(CloseReason::kIdleTimeout);
  } else {
    arm_timer(last_progress_ms_ + timeout - now);  // progress since arming: re-arm once
  }
}

void UvConnection::close_now(CloseReason reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  close_reason_ = reason;
}

bool UvConnection::quiet() const {
  if (writing() || !batch_empty() || input_end_ != input_begin_) return false;
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return true;
  int unread = 0;
  return ::ioctl(fd, FIONREAD, &unread) == 0 && unread == 0;
}

// ---- timers, buffers, names ----

void UvConnection::arm_timer(std::uint64_t delay_ms) {
  if (!timer_initialised_) {
    uv_timer_init(&ctx_.loop, &timer_);
    timer_.data = this;
    timer_initialised_ = true;
    ++handles_open_;
  }
  uv_timer_start(&timer_, on_timer, delay_ms, 0);
}

UvBuffer UvConnection::take_buffer(std::size_t min_capacity) {
  UvBuffer buffer = ctx_.buffers.acquire(min_capacity);
  ctx_.stats.ring_bytes_lent.add(buffer.capacity);
  return buffer;
}

void UvConnection::give_back(UvBuffer& buffer) {
  if (!buffer) return;
  ctx_.stats.ring_bytes_lent.sub(buffer.capacity);
  ctx_.buffers.release(std::move(buffer));
  buffer = UvBuffer{};
}

std::string UvConnection::peer_name() const {
  SocketAddress peer;
  int length = sizeof peer.storage;
  if (uv_tcp_getpeername(&tcp_, peer.get(), &length) != 0) return "(peer gone)";
  peer.length = static_cast<socklen_t>(length);
  return peer.to_string();
}

}  // namespace ringwire
