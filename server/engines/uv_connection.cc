#include "engines/uv_connection.h"

#include <sys/ioctl.h>

#include "ringwire/net.h"

namespace ringwire {
namespace {

UvConnection& self(void* data) { return *static_cast<UvConnection*>(data); }

}  // namespace

UvConnection::UvConnection(UvConnectionContext& context)
    : ctx_(context), session_(context.session, *this) {
  uv_tcp_init(&ctx_.loop, &tcp_);
  tcp_.data = this;
  shutdown_request_.data = this;
  write_request_.data = this;
  handles_open_ = 1;
}

UvConnection::~UvConnection() = default;

void UvConnection::start(UniqueFd socket) {
  if (uv_tcp_open(&tcp_, socket.get()) != 0) {
    session_.failed();  // `socket` closes here
  } else {
    socket.release();          // the handle owns it now
    uv_tcp_nodelay(&tcp_, 1);  // small replies go out at once
    session_.start();
  }
  settle();
}

// ---- entry points: each ends with settle() ----

void UvConnection::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  // An empty room makes libuv report UV_ENOBUFS: settle() then stops reading (or closes).
  const std::span<std::byte> room = self(handle->data).session_.read_room();
  *buf = uv_buf_init(reinterpret_cast<char*>(room.data()), static_cast<unsigned>(room.size()));
}

void UvConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  UvConnection& c = self(stream->data);
  if (nread > 0) {
    c.session_.received(static_cast<std::size_t>(nread));
  } else if (nread == UV_EOF) {
    c.session_.peer_finished();
  } else if (nread != 0 && nread != UV_ENOBUFS) {
    c.session_.failed();
  }
  c.send_step();
  c.settle();
}

void UvConnection::on_write(uv_write_t* request, int status) {
  UvConnection& c = self(request->data);
  const std::size_t bytes = std::exchange(c.write_bytes_, 0);
  if (c.session_.closed()) return;  // UV_ECANCELED: the handle is closing
  if (status < 0) {
    c.session_.failed();
  } else {
    c.session_.sent(bytes);
    c.send_step();
  }
  c.settle();
}

void UvConnection::on_shutdown(uv_shutdown_t*, int) {
  // Nothing to do: lingering ends on the peer's EOF or the session's deadline.
}

void UvConnection::on_timer(uv_timer_t* timer) {
  UvConnection& c = self(timer->data);
  c.timer_deadline_ = TimePoint::max();
  c.session_.on_deadline();
  c.settle();
}

void UvConnection::on_handle_closed(uv_handle_t* handle) {
  UvConnection& c = self(handle->data);
  if (--c.handles_open_ == 0) c.ctx_.owner.on_closed(c);  // destroys c: nothing may follow
}

void UvConnection::begin_drain() {
  session_.begin_drain();
  settle();
}

void UvConnection::abort(CloseReason reason) {
  session_.abort(reason);
  settle();
}

void UvConnection::send_owed() {
  send_step();
  settle();
}

void UvConnection::settle() {
  session_.settle();
  if (session_.closed()) {
    if (closing_) return;
    closing_ = true;
    session_.release();  // counted before the socket closes
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_handle_closed);
    if (timer_initialised_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_handle_closed);
    return;
  }
  update_reading();
  update_timer();
}

// ---- reading and sending ----

void UvConnection::update_reading() {
  const bool want = session_.wants_read();
  if (want == reading_) return;
  if (want) {
    if (uv_read_start(stream(), on_alloc, on_read) != 0) {
      session_.failed();
      settle();
      return;
    }
  } else {
    uv_read_stop(stream());
  }
  reading_ = want;
}

// Sends what is owed: a writev through uv_try_write, again while sending frees decoding that
// was waiting (new replies become owed); what the socket does not take goes in a uv_write, and
// later bytes wait for it (a uv_try_write meanwhile would jump the queue).
void UvConnection::send_step() {
  uv_buf_t bufs[2];
  const auto fill = [&bufs](const FrameSession::Owed& from) {
    for (std::size_t i = 0; i < from.count; ++i) {
      bufs[i] = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(from.spans[i].data())),
                            static_cast<unsigned>(from.spans[i].size()));
    }
    return static_cast<unsigned>(from.count);
  };
  while (!session_.closed() && write_bytes_ == 0) {
    FrameSession::Owed owed = session_.owed();
    if (owed.count == 0) return;
    const int written = uv_try_write(stream(), bufs, fill(owed));
    if (written < 0 && written != UV_EAGAIN) {
      session_.failed();
      return;
    }
    if (written > 0) {
      session_.sent(static_cast<std::size_t>(written));
      if (static_cast<std::size_t>(written) == owed.bytes) continue;
      owed = session_.owed();
      if (owed.count == 0) continue;
    }
    if (uv_write(&write_request_, stream(), bufs, fill(owed), on_write) != 0) {
      session_.failed();
      return;
    }
    write_bytes_ = owed.bytes;
    session_.sending(owed.bytes);
  }
}

// ---- the session's requests ----

TimePoint UvConnection::now() { return TimePoint(std::chrono::milliseconds(uv_now(&ctx_.loop))); }

void UvConnection::shutdown_write() {
  if (uv_shutdown(&shutdown_request_, stream(), on_shutdown) != 0) session_.failed();
}

bool UvConnection::socket_empty() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return true;
  int unread = 0;
  return ::ioctl(fd, FIONREAD, &unread) == 0 && unread == 0;
}

std::string UvConnection::peer_name() const {
  SocketAddress peer;
  int length = sizeof peer.storage;
  if (uv_tcp_getpeername(&tcp_, peer.get(), &length) != 0) return "(peer gone)";
  peer.length = static_cast<socklen_t>(length);
  return peer.to_string();
}

// The session's deadline on a uv timer, re-armed only when the deadline changes.
void UvConnection::update_timer() {
  const TimePoint deadline = session_.deadline();
  if (deadline == timer_deadline_) return;
  timer_deadline_ = deadline;
  if (deadline == TimePoint::max()) {
    if (timer_initialised_) uv_timer_stop(&timer_);
    return;
  }
  if (!timer_initialised_) {
    uv_timer_init(&ctx_.loop, &timer_);
    timer_.data = this;
    timer_initialised_ = true;
    ++handles_open_;
  }
  const auto delay = std::chrono::ceil<std::chrono::milliseconds>(deadline - now());
  uv_timer_start(&timer_, on_timer,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(delay.count(), 0)), 0);
}

}  // namespace ringwire
