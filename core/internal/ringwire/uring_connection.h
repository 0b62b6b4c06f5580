#pragma once
// UringConnection: the native completion transport of one accepted socket, for a loop whose
// poller has the completion form (io_uring). Owned by its loop's server part (which destroys it
// after it reports closed); owns its socket, its FrameSession (the protocol, which owns the
// rings) and the message its send points at. Loop thread only. Nothing protocol-shaped lives
// here: it turns the session's read and send steps into operations and their completions back
// into the session's calls.
//
//   receive:  one multishot recv armed while the session wants to read, into the loop's provided
//             buffers (so an idle connection pins no ring and no buffer); each completion's bytes
//             are copied into session.read_room() -> received(n), and the buffer goes back to the
//             loop at once. What the ring has no room for waits in `pending_` (the receive is
//             cancelled meanwhile); EOF -> peer_finished() once pending_ is delivered; ENOBUFS or a
//             completion without IORING_CQE_F_MORE -> armed again by settle() if still wanted.
//             The session stopping to read (backpressure, flushing) cancels the receive.
//   send:     one sendmsg in flight carrying everything owed (both spans): session.sending(n),
//             and sent(n) on its completion (the bytes stay in the rings meanwhile, as with the
//             uv transport's uv_write); a short completion sends the rest on at once
//   every completion, timer and owner call ends in settle(): session.settle(), the next send and
//   receive, the timer, or teardown once closed.
//
// Pass-through (large frames of a service that echoes every frame, decided by the session as for
// the readiness transport, connection.h): while a frame passes through (session.in_transit()) or
// the next header is to be peeked (session.peek_next()), the multishot receive is stopped and the
// connection works on readiness, as Connection does (PassThrough, pass_through.h): a poll for
// readable on the same registration, then synchronous splice(2) socket -> pipe; the pipe's owed
// bytes go out by splice once the ring's sendmsg is done (a poll for writable when the socket is
// full). Bytes of the frame that the receive took before its header was decoded (it runs until
// its cancel lands) are written into the pipe behind the frame's first bytes (PassThrough::feed),
// so the order holds. Not IORING_OP_SPLICE: the kernel runs every splice request in an io-wq
// worker thread, a thread hop per splice (bench/RESULTS.md).
//
// Teardown with operations in flight cancels them synchronously (EventLoop::cancel_all_now) before
// the rings are handed back and the socket closed: the kernel never writes into memory that was
// given back. The usual closes (the peer's EOF or reset) find nothing in flight and cost nothing.
// Shutting the write side is a plain shutdown(2).

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

#include "ringwire/connection.h"
#include "ringwire/deadline_timer.h"
#include "ringwire/event_loop.h"
#include "ringwire/frame_session.h"
#include "ringwire/native_connection.h"
#include "ringwire/net.h"
#include "ringwire/pass_through.h"

namespace ringwire {

class UringConnection final : public NativeConnection, public IoHandler, private SessionTransport {
 public:
  // `context.loop` must have completions().
  UringConnection(ConnectionContext& context, UniqueFd socket, const SocketAddress& peer);
  ~UringConnection() override;
  UringConnection(const UringConnection&) = delete;
  UringConnection& operator=(const UringConnection&) = delete;

  void start() override;
  void begin_drain() override;
  void abort(CloseReason reason) override;

  void on_io(const Event& event) override;
  const SocketAddress& peer() const { return peer_; }

 private:
  // Op tags of the operations this transport submits.
  static constexpr std::uint8_t kRecv = 1;
  static constexpr std::uint8_t kSend = 2;
  // MSG_WAITALL: on TCP, io_uring goes on sending (waiting for room) until all is taken, so one
  // completion per send; a short one is sent on from where it stopped (on_sent).
  static constexpr int kSendFlags = MSG_NOSIGNAL | MSG_WAITALL;

  // SessionTransport
  TimePoint now() override { return ctx_.loop.now(); }
  void shutdown_write() override;
  bool socket_empty() override;
  void send_owed() override;
  std::size_t pass_through_capacity() override { return pass_.capacity(); }
  std::string peer_name() const override { return peer_.to_string(); }

  void on_received(const Event& event);
  // While a frame passes through or the next header is to be peeked: readiness, not the receive.
  bool passing() const { return session_.in_transit() > 0 || session_.peek_next(); }
  void on_ready(const Event& event);
  void read_ready();
  // Hands `bytes` on in order: the frame in transit's to the pipe, the rest copied into the
  // session's input ring as far as it has room; returns what did not fit.
  std::span<const std::byte> deliver(std::span<const std::byte> bytes);
  void deliver_pending();
  void on_sent(std::int32_t result);
  void send_step();
  void receive_step();
  // Every entry point ends here: the next operations and the timer from the session's state, or,
  // once closed, cancels what is in flight, releases everything and calls on_closed (which
  // destroys us) as its very last step.
  void settle();

  ConnectionContext& ctx_;
  UniqueFd socket_;
  SocketAddress peer_;
  FrameSession session_;
  IoToken token_ = 0;
  bool receiving_ = false;          // the multishot recv is armed (until a completion without MORE)
  bool stopping_ = false;           // and its cancel is on its way
  bool probing_ = false;            // it is being cancelled to learn whether the socket is empty
  bool eof_ = false;                // the peer's EOF arrived
  bool eof_told_ = false;           // and the session was told (after pending_)
  bool want_write_ = false;         // the pipe's splice out found the socket full: poll writable
  std::vector<std::byte> pending_;  // received, no room in the session yet (usually empty)
  std::size_t send_bytes_ = 0;      // bytes of the sendmsg in flight (0: none)
  int send_flags_ = 0;              // of the sendmsg in flight
  iovec iov_[2]{};                  // what the sendmsg in flight points at
  msghdr message_{};
  PassThrough pass_;
  DeadlineTimer timer_;
};

}  // namespace ringwire
