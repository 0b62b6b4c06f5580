#pragma once
// Connection: the native readiness transport of one accepted socket. Owned by its loop's server
// part (which destroys it after it reports closed); owns its socket, its FrameSession (the
// protocol, which owns the rings) and, while a large frame passes through, a pipe lent by the
// loop's PipePool. Loop thread only. Nothing protocol-shaped lives here: it moves bytes between
// the socket and the session, and turns the session's state into poller interest and a timer.
//
//   readable:  recv() into session.read_room() -> session.received(n)        (up to 16 per wake-up)
//   writable:  send() each span of session.owed() -> session.sent(n); then the pipe's bytes
//   every event ends in settle(): session.settle(), interest, the timer, or teardown once closed.
//
// Pass-through (the session allows it for large frames of a service that echoes every frame):
// the frame's bytes move socket -> pipe -> socket with splice(2) (PassThrough, pass_through.h),
// never copied to or from user space (half of a large echo's CPU is those two copies).
//   - Read step: right after a passed-through frame the next header is peeked (pass_.peek()); a
//     frame in transit is spliced in (pass_.splice_in()).
//   - Send step: the pipe's owed bytes follow the ring's (pass_.splice_out()), the ring prefix
//     sent with MSG_MORE so TCP fills segments across the two.

#include <cstddef>
#include <functional>

#include "ringwire/deadline_timer.h"
#include "ringwire/event_loop.h"
#include "ringwire/frame_session.h"
#include "ringwire/native_connection.h"
#include "ringwire/net.h"
#include "ringwire/pass_through.h"
#include "ringwire/pipe_pool.h"

namespace ringwire {

// What a loop lends its connections (either transport). Plain references: all live on the same loop
// thread.
struct ConnectionContext {
  EventLoop& loop;
  SessionContext session;
  PipePool& pipes;
  // The service echoes every frame and the process ignores SIGPIPE: large frames may be passed
  // through with splice(2).
  bool pass_through = false;
  std::function<void(NativeConnection&)> on_closed;  // destroys the connection; called last
};

class Connection final : public NativeConnection, public IoHandler, private SessionTransport {
 public:
  // Per wake-up at most this many reads, so one fast peer cannot starve the others on its loop
  // (level-triggered: what is left is reported again next turn).
  static constexpr int kMaxReadsPerWakeup = 16;

  Connection(ConnectionContext& context, UniqueFd socket, const SocketAddress& peer);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() override;
  void begin_drain() override;
  void abort(CloseReason reason) override;

  void on_io(const Event& event) override;
  const SocketAddress& peer() const { return peer_; }

 private:
  // SessionTransport
  TimePoint now() override { return ctx_.loop.now(); }
  void shutdown_write() override;
  bool socket_empty() override;
  void send_owed() override;
  std::size_t pass_through_capacity() override;
  std::string peer_name() const override { return peer_.to_string(); }

  void read_step();
  bool receive_once();
  bool peek_header();
  void send_step();
  // Every entry point ends here: interest and timer from the session's state, or, once closed,
  // releases everything and calls on_closed (which destroys us) as its very last step.
  void settle();

  ConnectionContext& ctx_;
  UniqueFd socket_;
  SocketAddress peer_;
  FrameSession session_;
  IoToken token_ = 0;
  PassThrough pass_;
  bool want_write_ = false;  // a send was partial: wait for the socket to drain
  DeadlineTimer timer_;
};

}  // namespace ringwire
