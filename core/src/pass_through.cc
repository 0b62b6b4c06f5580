#include "ringwire/pass_through.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ringwire {

std::size_t PassThrough::capacity() {
  if (!enabled_) return 0;
  if (!pipe_.valid()) pipe_ = pipes_.acquire();
  return pipe_.valid() ? pipe_.capacity() : 0;
}

// Right after a passed-through frame the ring holds nothing undecoded: look at the next header
// without taking it, so a large frame goes to the pipe whole. Anything else is read into the ring.
PassThrough::Peek PassThrough::peek(FrameSession& session, int socket,
                                    const std::function<void()>& send_first) {
  std::byte header[kFrameHeaderSize];
  const ssize_t n = ::recv(socket, header, sizeof header, MSG_PEEK | MSG_DONTWAIT);
  if (n == static_cast<ssize_t>(sizeof header)) {
    PeekVerdict verdict = session.peeked(header);
    if (verdict == PeekVerdict::kSendFirst) {
      send_first();
      if (session.closed()) return Peek::kWait;
      if (session.pipe_bytes() > 0) {
        session.channel_full();  // the socket is full: read again once splice_out() makes room
        return Peek::kWait;
      }
      verdict = session.peeked(header);
    }
    if (verdict == PeekVerdict::kPassThrough) return Peek::kPassing;
  } else if (n < 0) {
    if (errno == EINTR) return Peek::kRetry;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Peek::kWait;
  }
  session.stop_peeking();  // a small or oversized frame, a split header, EOF or an error
  return Peek::kRead;
}

bool PassThrough::splice_in(FrameSession& session, int socket) {
  const ssize_t n = ::splice(socket, nullptr, pipe_.write_fd(), nullptr, session.in_transit(),
                             SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  if (n > 0) {
    session.passed_in(static_cast<std::size_t>(n));
    return session.in_transit() == 0;  // short: the socket is drained (or the pipe is full)
  }
  if (n == 0) {
    session.peer_finished();
    return false;
  }
  if (errno == EINTR) return true;
  if (errno != EAGAIN && errno != EWOULDBLOCK) {
    session.failed();
    return false;
  }
  // EAGAIN means an empty socket or a full pipe; only the socket can tell which.
  int unread = 0;
  if (session.pipe_bytes() == 0 || ::ioctl(socket, FIONREAD, &unread) != 0) return false;
  if (unread == 0) {
    // Empty, or at the peer's EOF: splice checks the pipe first, so a full pipe hides the EOF
    // behind EAGAIN, and the socket, readable for ever, would spin the loop.
    std::byte probe;
    if (::recv(socket, &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0) session.peer_finished();
    return false;
  }
  if (session.pipe_owed() > 0) {
    session.channel_full();  // sending the owed bytes makes room
  } else {
    spill(session);  // the frame alone filled the pipe's slots
  }
  return false;
}

std::size_t PassThrough::feed(FrameSession& session, std::span<const std::byte> bytes) {
  const std::size_t want = std::min(bytes.size(), session.in_transit());
  for (;;) {
    const ssize_t n = ::write(pipe_.write_fd(), bytes.data(), want);
    if (n > 0) {
      session.passed_in(static_cast<std::size_t>(n));
      return static_cast<std::size_t>(n);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) {
      session.failed();  // a pipe that refuses bytes it has room for: cannot go on
      return 0;
    }
    break;
  }
  // The pipe's slots are full.
  if (session.pipe_owed() > 0) {
    session.channel_full();  // sending the owed bytes makes room
  } else {
    spill(session);  // the frame alone filled them: it finishes in the ring
  }
  return 0;
}

// Reads the frame's bytes back from the pipe into the ring, which then holds the whole frame so
// far; the frame finishes on the ring path. Rare: see frame_session.h.
void PassThrough::spill(FrameSession& session) {
  const std::span<std::byte> room = session.spill_room();
  if (room.empty()) return;  // no ring: the session closed
  std::size_t got = 0;
  while (got < room.size()) {
    const ssize_t n = ::read(pipe_.read_fd(), room.data() + got, room.size() - got);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      session.failed();  // a pipe that loses bytes it holds: cannot go on
      return;
    }
    got += static_cast<std::size_t>(n);
  }
  session.spilled();
}

PassThrough::Out PassThrough::splice_out(FrameSession& session, int socket) {
  for (;;) {
    const std::size_t ready = session.pipe_ready();
    const ssize_t n = ::splice(pipe_.read_fd(), nullptr, socket, nullptr, ready,
                               SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Out::kBlocked;
      session.failed();
      return Out::kStopped;
    }
    const auto sent = static_cast<std::size_t>(n);
    session.passed_out(sent);
    return sent == ready ? Out::kAll : Out::kBlocked;  // short: the socket buffer is full
  }
}

void PassThrough::settle(FrameSession& session) {
  if (!pipe_.valid() || session.pipe_bytes() > 0 || session.in_transit() > 0) return;
  if (session.take_channel_discarded()) {
    pipe_ = Pipe();  // it still holds bytes nobody will send: close it
  } else {
    pipes_.release(std::move(pipe_));
  }
}

void PassThrough::release(FrameSession& session) {
  if (!pipe_.valid()) return;
  if (session.pipe_bytes() == 0 && session.in_transit() == 0 && !session.take_channel_discarded()) {
    pipes_.release(std::move(pipe_));
  } else {
    pipe_ = Pipe();
  }
}

}  // namespace ringwire
