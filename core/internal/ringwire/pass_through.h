#pragma once
// PassThrough: the splice(2) side of a transport that passes large echoed frames through a pipe
// (the session decides which, see frame_session.h), shared by the readiness transport
// (Connection) and the completion one (UringConnection, which stops its receive and works on
// readiness while a frame passes through). Owns the pipe lent by the loop's PipePool while the
// session's channel needs one. Loop thread only. Nothing protocol-shaped lives here: it moves
// bytes socket -> pipe -> socket and tells the session; the caller decides what runs next.
//
//   peek():       right after a passed-through frame the next header is peeked with MSG_PEEK, so
//                 a large frame goes to the pipe whole (session.peeked())
//   splice_in():  a frame in transit is spliced in (session.passed_in()); if the pipe's slots run
//                 out before the frame is whole, its bytes are read back into the ring (a "spill",
//                 session.spill_room())
//   feed():       bytes of the frame in transit that the transport already holds in user space
//                 (a completion receive took them before the header was seen) are written in
//   splice_out(): the pipe's owed bytes, once the ring's are sent (session.pipe_ready())

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "ringwire/frame_session.h"
#include "ringwire/pipe_pool.h"

namespace ringwire {

class PassThrough {
 public:
  // `enabled`: the service echoes every frame and the process ignores SIGPIPE.
  PassThrough(PipePool& pipes, bool enabled) : pipes_(pipes), enabled_(enabled) {}
  PassThrough(const PassThrough&) = delete;
  PassThrough& operator=(const PassThrough&) = delete;

  // SessionTransport::pass_through_capacity(): borrows a pipe on first need (0: none).
  std::size_t capacity();

  enum class Peek : std::uint8_t {
    kPassing,  // the next frame passes through now: splice_in() it
    kWait,     // nothing to peek yet, or the channel is full (the session was told)
    kRetry,    // interrupted: peek again
    kRead,     // read it into the ring (the session stopped peeking)
  };
  // Peeks at the next header. `send_first` sends what is owed when the pipe must make room.
  Peek peek(FrameSession& session, int socket, const std::function<void()>& send_first);
  // Moves the frame in transit from the socket into the pipe. Returns whether to read again now.
  bool splice_in(FrameSession& session, int socket);
  // Writes bytes of the frame in transit (at most session.in_transit()) into the pipe; returns how
  // many it took. Fewer when the pipe is full: the session was told (channel full: wait for the
  // sends) or the frame was spilled into the ring, where the rest then goes.
  std::size_t feed(FrameSession& session, std::span<const std::byte> bytes);

  enum class Out : std::uint8_t { kAll, kBlocked, kStopped };
  // Sends the pipe's ready bytes: all of them, or the socket is full (wait until writable), or it
  // failed (the session was told).
  Out splice_out(FrameSession& session, int socket);

  // After each entry point: gives the pipe back once the session's channel is empty.
  void settle(FrameSession& session);
  // At teardown, before session.release(): the pipe goes back if empty, else is closed.
  void release(FrameSession& session);

 private:
  void spill(FrameSession& session);

  PipePool& pipes_;
  const bool enabled_;
  Pipe pipe_;
};

}  // namespace ringwire
