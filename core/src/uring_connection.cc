#include "ringwire/uring_connection.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <exception>
#include <utility>

#include "ringwire/log.h"

namespace ringwire {

UringConnection::UringConnection(ConnectionContext& context, UniqueFd socket,
                                 const SocketAddress& peer)
    : ctx_(context), socket_(std::move(socket)), peer_(peer), session_(context.session, *this) {}

UringConnection::~UringConnection() {
  // Normally settle() released everything; this covers destruction of a live connection (the
  // owner going away with its loop): the kernel must be done with the rings before they go.
  ctx_.loop.cancel_timer(timer_);
  if (token_ == 0) return;
  try {
    if (receiving_ || send_bytes_ > 0) ctx_.loop.cancel_all_now(token_);
  } catch (const std::exception& error) {
    ctx_.session.peer_warnings.warn(ctx_.loop.now(), "{}: cancelling its operations failed: {}",
                                    peer_.to_string(), error.what());
  }
  session_.reading(false);
  ctx_.loop.remove_io(token_);
}

void UringConnection::start() {
  set_no_delay(socket_.get());
  token_ = ctx_.loop.add_io(socket_.get(), Interest::kNone, *this);  // completions only
  session_.start();
  settle();
}

// ---- entry points: each ends with settle() ----

void UringConnection::on_io(const Event& event) {
  if ((event.flags & kEventCompletion) == 0) return;
  switch (event.op) {
    case kRecv:
      on_received(event.result);
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

void UringConnection::on_timer() {
  timer_ = kNoTimer;
  timer_deadline_ = TimePoint::max();
  session_.on_deadline();
  settle();
}

void UringConnection::settle() {
  session_.settle();
  if (!session_.closed()) {
    send_step();
    receive_step();  // may close the session (no ring could be had)
  }
  if (!session_.closed()) {
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
  // The rings go back to the pool below: the kernel must be done with them first.
  if (receiving_ || send_bytes_ > 0) ctx_.loop.cancel_all_now(token_);
  receiving_ = false;
  send_bytes_ = 0;
  session_.reading(false);
  ctx_.loop.remove_io(token_);  // completions still on their way are dropped by generation
  token_ = 0;
  session_.release();  // counted before the socket closes, so whoever sees the close sees it
  socket_.reset();
  ctx_.on_closed(*this);  // destroys this connection: nothing may follow
}

// ---- receiving ----

void UringConnection::receive_step() {
  if (receiving_ || !session_.wants_read()) return;
  const std::span<std::byte> room = session_.read_room();
  if (room.empty()) return;  // backpressure (settle() asks again once sends make room), or closed
  ctx_.loop.submit_recv(token_, room, kRecv);
  receiving_ = true;
  session_.reading(true);
}

void UringConnection::on_received(std::int32_t result) {
  receiving_ = false;
  probing_ = false;
  session_.reading(false);
  if (result > 0) {
    session_.received(static_cast<std::size_t>(result));
  } else if (result == 0) {
    session_.peer_finished();
  } else if (result != -ECANCELED && result != -EINTR && result != -EAGAIN) {
    session_.failed();
  }
  // Cancelled (socket_empty() asked) or interrupted: settle() receives again if still wanted.
}

// ---- sending ----

// One sendmsg in flight carrying everything owed; what becomes owed meanwhile waits for it, so
// order is kept and the bytes in flight stay where they are.
void UringConnection::send_step() {
  if (send_bytes_ > 0 || session_.closed()) return;
  const FrameSession::Owed owed = session_.owed();
  if (owed.count == 0) return;
  for (std::size_t i = 0; i < owed.count; ++i) {
    // sendmsg only reads through the iovec, which has no const.
    iov_[i].iov_base = const_cast<std::byte*>(owed.spans[i].data());
    iov_[i].iov_len = owed.spans[i].size();
  }
  message_ = msghdr{};
  message_.msg_iov = iov_;
  message_.msg_iovlen = owed.count;
  ctx_.loop.submit_sendmsg(token_, message_, kSendFlags, kSend);
  send_bytes_ = owed.bytes;
  session_.sending(owed.bytes);
}

void UringConnection::on_sent(std::int32_t result) {
  const std::size_t bytes = std::exchange(send_bytes_, 0);
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
  ctx_.loop.submit_sendmsg(token_, message_, kSendFlags, kSend);
  send_bytes_ = bytes - sent;
}

// ---- the session's requests ----

void UringConnection::shutdown_write() { ::shutdown(socket_.get(), SHUT_WR); }

bool UringConnection::socket_empty() {
  if (receiving_) {
    // The recv in flight may have taken bytes not reported yet: only its completion can tell.
    // Cancel it; its completion (those bytes, or -ECANCELED) is an entry point that asks again,
    // then with nothing in flight. Only a draining session that is otherwise quiet asks this.
    if (!probing_) {
      probing_ = true;
      ctx_.loop.submit_cancel(token_, kRecv);
    }
    return false;
  }
  int unread = 0;
  return ::ioctl(socket_.get(), FIONREAD, &unread) == 0 && unread == 0;
}

}  // namespace ringwire
