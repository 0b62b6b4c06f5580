#include "ringwire/connection.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ringwire {

Connection::Connection(ConnectionContext& context, UniqueFd socket, const SocketAddress& peer)
    : ctx_(context), socket_(std::move(socket)), peer_(peer), session_(context.session, *this) {}

Connection::~Connection() {
  // Normally settle() released everything; this covers destruction of a live connection (the
  // owner going away with its loop).
  ctx_.loop.cancel_timer(timer_);
  if (token_ != 0 && socket_) ctx_.loop.remove_io(token_);
  if (pipe_.valid() && session_.pipe_bytes() == 0) ctx_.pipes.release(std::move(pipe_));
}

void Connection::start() {
  token_ = ctx_.loop.add_io(socket_.get(), Interest::kRead, *this);
  session_.start();
  settle();
}

// ---- entry points: each ends with settle() ----

void Connection::on_io(const Event& event) {
  if (event.flags & kEventError) {
    session_.failed();
  } else {
    if (event.flags & kEventWritable) send_step();
    if ((event.flags & (kEventReadable | kEventHangup)) && session_.wants_read()) read_step();
    // Both directions are shut, or the peer reset: what we owe can no longer be delivered.
    if ((event.flags & kEventHangup) && !session_.lingering()) session_.failed();
  }
  settle();
}

void Connection::begin_drain() {
  session_.begin_drain();
  settle();
}

void Connection::abort(CloseReason reason) {
  session_.abort(reason);
  settle();
}

void Connection::send_owed() {
  send_step();
  settle();
}

void Connection::on_timer() {
  timer_ = kNoTimer;
  timer_deadline_ = TimePoint::max();
  session_.on_deadline();
  settle();
}

void Connection::settle() {
  session_.settle();
  if (!session_.closed()) {
    if (pipe_.valid() && session_.pipe_bytes() == 0 && session_.in_transit() == 0) {
      if (session_.take_channel_discarded()) {
        pipe_ = Pipe();  // it still holds bytes nobody will send: close it
      } else {
        ctx_.pipes.release(std::move(pipe_));
      }
    }
    Interest interest = session_.wants_read() ? Interest::kRead : Interest::kNone;
    if (want_write_) interest = interest | Interest::kWrite;
    ctx_.loop.set_interest(token_, interest);
    if (session_.deadline() != timer_deadline_) {
      ctx_.loop.cancel_timer(timer_);
      timer_ = kNoTimer;
      timer_deadline_ = session_.deadline();
      if (timer_deadline_ != TimePoint::max()) {
        timer_ = ctx_.loop.add_timer(timer_deadline_, [this] { on_timer(); });
      }
    }
    return;
  }
  ctx_.loop.cancel_timer(timer_);
  timer_ = kNoTimer;
  ctx_.loop.remove_io(token_);
  token_ = 0;
  if (pipe_.valid()) {
    if (session_.pipe_bytes() == 0 && session_.in_transit() == 0) {
      ctx_.pipes.release(std::move(pipe_));
    } else {
      pipe_ = Pipe();
    }
  }
  session_.release();  // counted before the socket closes, so whoever sees the close sees it
  socket_.reset();
  ctx_.on_closed(*this);  // destroys this connection: nothing may follow
}

// ---- reading ----

void Connection::read_step() {
  for (int i = 0; i < kMaxReadsPerWakeup && session_.wants_read(); ++i) {
    const bool more = session_.in_transit() > 0 ? splice_in()
                      : session_.peek_next()    ? peek_header()
                                                : receive_once();
    // While large frames stream in one after another, whole frames gather in the pipe and go
    // out together below: one splice and fewer, fuller segments instead of one of each per frame.
    if (!session_.peek_next()) send_step();
    if (!more) break;
  }
  send_step();
}

// One recv() into the session's input. Returns whether the socket may have more right now.
bool Connection::receive_once() {
  const std::span<std::byte> room = session_.read_room();
  if (room.empty()) return false;
  const ssize_t n = ::recv(socket_.get(), room.data(), room.size(), 0);
  if (n > 0) {
    const auto received = static_cast<std::size_t>(n);
    session_.received(received);
    return received == room.size();  // a short read means the socket is drained
  }
  if (n == 0) {
    session_.peer_finished();
    return false;
  }
  if (errno == EINTR) return true;
  if (errno != EAGAIN && errno != EWOULDBLOCK) session_.failed();
  return false;
}

// Right after a passed-through frame the ring holds nothing undecoded: look at the next header
// without taking it, so a large frame goes to the pipe whole. Anything else is read into the ring.
bool Connection::peek_header() {
  std::byte header[kFrameHeaderSize];
  const ssize_t n = ::recv(socket_.get(), header, sizeof header, MSG_PEEK);
  if (n == static_cast<ssize_t>(sizeof header)) {
    PeekVerdict verdict = session_.peeked(header);
    if (verdict == PeekVerdict::kSendFirst) {
      send_step();
      if (session_.pipe_bytes() > 0) {
        session_.channel_full();  // the socket is full: read again once splice_out() makes room
        return false;
      }
      verdict = session_.peeked(header);
    }
    if (verdict == PeekVerdict::kPassThrough) return splice_in();
  } else if (n < 0) {
    if (errno == EINTR) return true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
  }
  session_.stop_peeking();  // a small or oversized frame, a split header, EOF or an error
  return receive_once();
}

// Moves the frame in transit from the socket into the pipe. Returns whether to read again now.
bool Connection::splice_in() {
  const ssize_t n = ::splice(socket_.get(), nullptr, pipe_.write_fd(), nullptr,
                             session_.in_transit(), SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  if (n > 0) {
    session_.passed_in(static_cast<std::size_t>(n));
    return session_.in_transit() == 0;  // short: the socket is drained (or the pipe is full)
  }
  if (n == 0) {
    session_.peer_finished();
    return false;
  }
  if (errno == EINTR) return true;
  if (errno != EAGAIN && errno != EWOULDBLOCK) {
    session_.failed();
    return false;
  }
  // EAGAIN means an empty socket or a full pipe; only the socket can tell which.
  int unread = 0;
  if (session_.pipe_bytes() == 0 || ::ioctl(socket_.get(), FIONREAD, &unread) != 0) return false;
  if (unread == 0) {
    // Empty, or at the peer's EOF: splice checks the pipe first, so a full pipe hides the EOF
    // behind EAGAIN, and the socket, readable for ever, would spin the loop.
    std::byte probe;
    if (::recv(socket_.get(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0) session_.peer_finished();
    return false;
  }
  if (session_.pipe_owed() > 0) {
    session_.channel_full();  // sending the owed bytes makes room
  } else {
    spill();  // the frame alone filled the pipe's slots
  }
  return false;
}

// Reads the frame's bytes back from the pipe into the ring, which then holds the whole frame so
// far; the frame finishes on the ring path. Rare: see connection.h.
void Connection::spill() {
  const std::span<std::byte> room = session_.spill_room();
  if (room.empty()) return;  // no ring: the session closed
  std::size_t got = 0;
  while (got < room.size()) {
    const ssize_t n = ::read(pipe_.read_fd(), room.data() + got, room.size() - got);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      session_.failed();  // a pipe that loses bytes it holds: cannot go on
      return;
    }
    got += static_cast<std::size_t>(n);
  }
  session_.spilled();
}

// ---- writing ----

void Connection::send_step() {
  while (!session_.closed()) {
    const FrameSession::Owed owed = session_.owed();
    if (owed.count == 0) {
      if (session_.pipe_ready() == 0) break;
      if (!splice_out()) return;
      continue;
    }
    const std::span<const std::byte> bytes = owed.spans[0];
    // A frame's ring prefix followed by its pipe bytes: let TCP fill segments across the two.
    const int more = owed.count == 1 && session_.pipe_owed() > 0 ? MSG_MORE : 0;
    const ssize_t n = ::send(socket_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | more);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        want_write_ = true;
        return;
      }
      session_.failed();
      return;
    }
    const auto sent = static_cast<std::size_t>(n);
    session_.sent(sent);
    if (sent < bytes.size()) {  // the socket buffer is full
      want_write_ = true;
      return;
    }
  }
  want_write_ = false;
}

// Sends the pipe's owed bytes. False when the socket is full (want_write_ is set) or it failed.
bool Connection::splice_out() {
  const std::size_t ready = session_.pipe_ready();
  const ssize_t n = ::splice(pipe_.read_fd(), nullptr, socket_.get(), nullptr, ready,
                             SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  if (n < 0) {
    if (errno == EINTR) return true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      want_write_ = true;
    } else {
      session_.failed();
    }
    return false;
  }
  const auto sent = static_cast<std::size_t>(n);
  session_.passed_out(sent);
  if (sent < ready) want_write_ = true;  // the socket buffer is full
  return sent == ready;
}

// ---- the session's requests ----

void Connection::shutdown_write() { ::shutdown(socket_.get(), SHUT_WR); }

bool Connection::socket_empty() {
  int unread = 0;
  return ::ioctl(socket_.get(), FIONREAD, &unread) == 0 && unread == 0;
}

std::size_t Connection::pass_through_capacity() {
  if (!ctx_.pass_through) return 0;
  if (!pipe_.valid()) pipe_ = ctx_.pipes.acquire();
  return pipe_.valid() ? pipe_.capacity() : 0;
}

}  // namespace ringwire
