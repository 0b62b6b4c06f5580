#include "ringwire/connection.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

namespace ringwire {

Connection::Connection(ConnectionContext& context, UniqueFd socket, const SocketAddress& peer)
    : ctx_(context),
      socket_(std::move(socket)),
      peer_(peer),
      session_(context.session, *this),
      pass_(context.pipes, context.pass_through),
      timer_(context.loop) {}

Connection::~Connection() {
  // Normally settle() released everything; this covers destruction of a live connection (the
  // owner going away with its loop).
  if (token_ != 0 && socket_) ctx_.loop.remove_io(token_);
  pass_.release(session_);
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

void Connection::settle() {
  session_.settle();
  if (!session_.closed()) {
    pass_.settle(session_);
    Interest interest = session_.wants_read() ? Interest::kRead : Interest::kNone;
    if (want_write_) interest = interest | Interest::kWrite;
    ctx_.loop.set_interest(token_, interest);
    timer_.follow(session_.deadline(), [this] {
      session_.on_deadline();
      settle();
    });
    return;
  }
  timer_.stop();
  ctx_.loop.remove_io(token_);
  token_ = 0;
  pass_.release(session_);
  session_.release();  // counted before the socket closes, so whoever sees the close sees it
  socket_.reset();
  ctx_.on_closed(*this);  // destroys this connection: nothing may follow
}

// ---- reading ----

void Connection::read_step() {
  for (int i = 0; i < kMaxReadsPerWakeup && session_.wants_read(); ++i) {
    const bool more = session_.in_transit() > 0 ? pass_.splice_in(session_, socket_.get())
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

// Right after a passed-through frame: the next header decides where its frame goes.
bool Connection::peek_header() {
  switch (pass_.peek(session_, socket_.get(), [this] { send_step(); })) {
    case PassThrough::Peek::kPassing:
      return pass_.splice_in(session_, socket_.get());
    case PassThrough::Peek::kWait:
      return false;
    case PassThrough::Peek::kRetry:
      return true;
    case PassThrough::Peek::kRead:
      break;
  }
  return receive_once();
}

// ---- writing ----

void Connection::send_step() {
  while (!session_.closed()) {
    const FrameSession::Owed owed = session_.owed();
    if (owed.count == 0) {
      if (session_.pipe_ready() == 0) break;
      const PassThrough::Out out = pass_.splice_out(session_, socket_.get());
      if (out == PassThrough::Out::kAll) continue;
      want_write_ = out == PassThrough::Out::kBlocked;
      return;
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

// ---- the session's requests ----

void Connection::shutdown_write() { ::shutdown(socket_.get(), SHUT_WR); }

bool Connection::socket_empty() {
  int unread = 0;
  return ::ioctl(socket_.get(), FIONREAD, &unread) == 0 && unread == 0;
}

std::size_t Connection::pass_through_capacity() { return pass_.capacity(); }

}  // namespace ringwire
