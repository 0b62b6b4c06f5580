#include "ringwire/uring_connection.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <tuple>
#include <utility>

#include "ringwire/log.h"

namespace ringwire {

UringConnection::UringConnection(ConnectionContext& context, UniqueFd socket,
                                 const SocketAddress& peer)
    : ctx_(context),
      socket_(std::move(socket)),
      peer_(peer),
      session_(context.session, *this),
      pass_(context.pipes, context.pass_through),
      timer_(context.loop) {}

UringConnection::~UringConnection() {
  // Normally settle() released everything; this covers destruction of a live connection (the
  // owner going away with its loop): the kernel must be done with the rings before they go.
  if (token_ == 0) return;
  try {
    if (receiving_ || send_bytes_ > 0) ctx_.loop.cancel_all_now(token_);
  } catch (const std::exception& error) {
    ctx_.session.peer_warnings.warn(ctx_.loop.now(), "{}: cancelling its operations failed: {}",
                                    peer_.to_string(), error.what());
  }
  ctx_.loop.remove_io(token_);
  pass_.release(session_);
}

void UringConnection::start() {
  token_ = ctx_.loop.add_io(socket_.get(), Interest::kNone, *this);  // completions only
  session_.start();
  settle();
}

// ---- entry points: each ends with settle() ----

void UringConnection::on_io(const Event& event) {
  if ((event.flags & kEventCompletion) == 0) {
    on_ready(event);
    settle();
    return;
  }
  switch (event.op) {
    case kRecv:
      on_received(event);
      break;
    case kSend:
      on_sent(event.result);
      break;
    default:
      break;
  }
  settle();
}

void UringConnection::begin_drain() {
  session_.begin_drain();
  settle();
}

void UringConnection::abort(CloseReason reason) {
  session_.abort(reason);
  settle();
}

void UringConnection::send_owed() {
  send_step();
  settle();
}

void UringConnection::settle() {
  session_.settle();
  // Bytes waiting for room go in once the session has settled (it may have just resumed reading:
  // backpressure is lifted there), then it settles what they brought.
  if (!session_.closed() && (!pending_.empty() || (eof_ && !eof_told_))) {
    deliver_pending();
    session_.settle();
  }
  if (!session_.closed()) {
    // A splice out frees the channel and decoding resumes behind it (it may start a frame passing
    // through, or find an error and go on to linger, where waiting bytes are dropped): what waits
    // for room goes in now, for no later event may come. Until nothing moves.
    // A send that empties what is owed may also end a flush, and only the session closes.
    const auto progress = [this] {
      return std::tuple(session_.unsent(), pending_.size(), session_.pipe_bytes(),
                        session_.state());
    };
    for (;;) {
      const auto before = progress();
      send_step();
      if (session_.closed()) break;
      if (!pending_.empty()) deliver_pending();
      session_.settle();
      if (session_.closed() || progress() == before) break;
    }
  }
  if (!session_.closed()) receive_step();  // may close the session (no ring could be had)
  if (!session_.closed()) {
    pass_.settle(session_);
    timer_.follow(session_.deadline(), [this] {
      session_.on_deadline();
      settle();
    });
    return;
  }
  timer_.stop();
  // The rings go back to the pool below: the kernel must be done with them first.
  if (receiving_ || send_bytes_ > 0) ctx_.loop.cancel_all_now(token_);
  receiving_ = false;
  send_bytes_ = 0;
  std::vector<std::byte>().swap(pending_);
  ctx_.loop.remove_io(token_);  // completions still on their way are dropped by generation
  token_ = 0;
  pass_.release(session_);
  session_.release();  // counted before the socket closes, so whoever sees the close sees it
  socket_.reset();
  ctx_.on_closed(*this);  // destroys this connection: nothing may follow
}

// ---- receiving ----

void UringConnection::receive_step() {
  const bool wanted = session_.wants_read() && pending_.empty() && !eof_;
  const bool splicing = passing();
  if (wanted && !splicing && !receiving_) {
    ctx_.loop.submit_recv_multishot(token_, kRecv);
    receiving_ = true;
  } else if ((!wanted || splicing) && receiving_ && !stopping_) {
    // Backpressure, flushing, bytes waiting for room, or a frame passing through: the socket keeps
    // what comes meanwhile (what the receive already took arrives before its last completion).
    ctx_.loop.submit_cancel(token_, kRecv);
    stopping_ = true;
  }
  // Readiness only once the receive is over: it may still hold bytes that come first.
  Interest interest = wanted && splicing && !receiving_ ? Interest::kRead : Interest::kNone;
  if (want_write_) interest = interest | Interest::kWrite;
  ctx_.loop.set_interest(token_, interest);
}

// A poll's event, while a frame passes through (see uring_connection.h).
void UringConnection::on_ready(const Event& event) {
  if (event.flags & kEventError) {
    session_.failed();
    return;
  }
  if (event.flags & kEventWritable) {
    want_write_ = false;
    send_step();
  }
  if (event.flags & (kEventReadable | kEventHangup)) read_ready();
}

// As Connection::read_step does, while the receive is stopped; a frame that does not pass through
// (PassThrough::Peek::kRead) is left to the receive, which settle() arms again.
void UringConnection::read_ready() {
  for (int i = 0; i < Connection::kMaxReadsPerWakeup; ++i) {
    if (session_.closed() || !session_.wants_read() || !passing() || receiving_ ||
        !pending_.empty()) {
      break;
    }
    bool more = false;
    if (session_.in_transit() > 0) {
      more = pass_.splice_in(session_, socket_.get());
    } else {
      switch (pass_.peek(session_, socket_.get(), [this] { send_step(); })) {
        case PassThrough::Peek::kPassing:
          more = pass_.splice_in(session_, socket_.get());
          break;
        case PassThrough::Peek::kRetry:
          more = true;
          break;
        case PassThrough::Peek::kWait:
        case PassThrough::Peek::kRead:
          break;
      }
    }
    // Each whole frame goes out as soon as it is in, not gathered with the next ones as the epoll
    // transport does: measured, less CPU per byte here (gathered bursts were held back by TCP
    // pacing, BBR, with an hrtimer and sent on from softirq; bench/RESULTS.md).
    send_step();
    if (!more) break;
  }
  send_step();
}

void UringConnection::on_received(const Event& event) {
  if ((event.flags & kEventMore) == 0) {  // the receive ended: settle() arms it again if wanted
    receiving_ = false;
    stopping_ = false;
    probing_ = false;
  }
  const std::int32_t result = event.result;
  if (result > 0) {
    const std::span<const std::byte> bytes(event.data, static_cast<std::size_t>(result));
    // Behind bytes already waiting, or what the ring has no room for: kept in order.
    const std::span<const std::byte> rest = pending_.empty() ? deliver(bytes) : bytes;
    if (!rest.empty() && !session_.closed())
      pending_.insert(pending_.end(), rest.begin(), rest.end());
  } else if (result == 0) {
    eof_ = true;  // told once pending_ is delivered (deliver_pending)
  } else if (result != -ECANCELED && result != -ENOBUFS && result != -EINTR && result != -EAGAIN) {
    session_.failed();
  }
  // Cancelled (backpressure, or socket_empty() asked), out of buffers (they are back by the next
  // wait) or interrupted: settle() arms the receive again if still wanted.
}

std::span<const std::byte> UringConnection::deliver(std::span<const std::byte> bytes) {
  while (!bytes.empty() && !session_.closed()) {
    if (session_.in_transit() > 0) {
      // The receive took bytes of a frame that passes through: they follow its first ones.
      const std::size_t n = pass_.feed(session_, bytes);
      bytes = bytes.subspan(n);
      if (n == 0 && session_.in_transit() > 0) break;  // the pipe is full until sends make room
      continue;
    }
    // The next header is here, not in the socket: no peeking.
    if (session_.peek_next()) session_.stop_peeking();
    const std::span<std::byte> room = session_.read_room();
    if (room.empty()) break;  // backpressure, or the ring is full of replies owed
    const std::size_t n = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), n);
    session_.received(n);
    bytes = bytes.subspan(n);
  }
  return bytes;
}

void UringConnection::deliver_pending() {
  if (!pending_.empty()) {
    const std::span<const std::byte> rest = deliver(pending_);
    if (rest.empty()) {
      std::vector<std::byte>().swap(pending_);  // usually empty: hold no memory
    } else {
      pending_.erase(pending_.begin(), pending_.end() - static_cast<std::ptrdiff_t>(rest.size()));
    }
  }
  if (eof_ && !eof_told_ && pending_.empty() && !session_.closed()) {
    eof_told_ = true;
    session_.peer_finished();
  }
}

// ---- sending ----

// One sendmsg in flight carrying everything owed; what becomes owed meanwhile waits for it, so
// order is kept and the bytes in flight stay where they are. The pipe's bytes follow the ring's.
void UringConnection::send_step() {
  while (send_bytes_ == 0 && !session_.closed()) {
    const FrameSession::Owed owed = session_.owed();
    if (owed.count == 0) {
      if (session_.pipe_ready() == 0 || want_write_) return;
      const PassThrough::Out out = pass_.splice_out(session_, socket_.get());
      if (out != PassThrough::Out::kAll) {
        want_write_ = out == PassThrough::Out::kBlocked;
        return;
      }
      continue;  // sent: decoding may have gone on behind it
    }
    for (std::size_t i = 0; i < owed.count; ++i) {
      // sendmsg only reads through the iovec, which has no const.
      iov_[i].iov_base = const_cast<std::byte*>(owed.spans[i].data());
      iov_[i].iov_len = owed.spans[i].size();
    }
    message_ = msghdr{};
    message_.msg_iov = iov_;
    message_.msg_iovlen = owed.count;
    // A frame's ring prefix followed by its pipe bytes: let TCP fill segments across the two.
    send_flags_ = kSendFlags | (session_.pipe_owed() > 0 ? MSG_MORE : 0);
    ctx_.loop.submit_sendmsg(token_, message_, send_flags_, kSend);
    send_bytes_ = owed.bytes;
    session_.sending(owed.bytes);
    return;
  }
}

void UringConnection::on_sent(std::int32_t result) {
  const std::size_t bytes = std::exchange(send_bytes_, 0);
  if (result == -EAGAIN || result == -EINTR) {
    // Nothing was taken. Seen after a short send on a non-blocking AF_UNIX socket: the kernel's
    // retry of the rest ran where it could not wait. A fresh submission waits for room (the
    // kernel polls the socket), so send the same bytes again.
    ctx_.loop.submit_sendmsg(token_, message_, send_flags_, kSend);
    send_bytes_ = bytes;
    return;
  }
  if (result <= 0) {  // an error; 0 (nothing taken) would only come back the same
    session_.failed();
    return;
  }
  const auto sent = static_cast<std::size_t>(result);
  session_.sent(sent);
  if (sent == bytes || session_.closed()) return;
  // Short: MSG_WAITALL is not honoured for every socket (AF_UNIX stops at a full buffer). The rest
  // is still in flight for the session and lies where it was (sent() consumed only what went):
  // send it on from there.
  std::size_t skip = sent;
  std::size_t first = 0;
  while (skip >= iov_[first].iov_len) skip -= iov_[first++].iov_len;
  iov_[first].iov_base = static_cast<std::byte*>(iov_[first].iov_base) + skip;
  iov_[first].iov_len -= skip;
  if (first == 1) iov_[0] = iov_[1];
  message_.msg_iovlen -= first;
  ctx_.loop.submit_sendmsg(token_, message_, send_flags_, kSend);
  send_bytes_ = bytes - sent;
}

// ---- the session's requests ----

void UringConnection::shutdown_write() { ::shutdown(socket_.get(), SHUT_WR); }

bool UringConnection::socket_empty() {
  if (!pending_.empty()) return false;
  if (receiving_) {
    // The receive may have taken bytes not reported yet: only its last completion can tell.
    // Cancel it; that completion is an entry point that asks again, then with nothing armed.
    // Only a draining session that is otherwise quiet asks this.
    if (!probing_ && !stopping_) {
      probing_ = true;
      stopping_ = true;
      ctx_.loop.submit_cancel(token_, kRecv);
    }
    return false;
  }
  int unread = 0;
  return ::ioctl(socket_.get(), FIONREAD, &unread) == 0 && unread == 0;
}

}  // namespace ringwire
