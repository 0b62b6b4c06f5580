#pragma once
// UvConnection: the libuv transport of one accepted socket. Owned by its loop's part of the
// UvEngine (which destroys it once its handles are closed); owns its uv_tcp_t, its timer and its
// FrameSession (the protocol, which owns the rings). Loop thread only. Nothing protocol-shaped
// lives here: libuv's callbacks are turned into the session's read and send steps.
//
//   alloc_cb:  session.read_room()            read_cb:  session.received(n) | peer_finished()
//   send:      session.owed() -> uv_try_write (a writev, no request) -> session.sent(n); what the
//              socket did not take goes in one uv_write: session.sending(n), and sent(n) in its
//              callback. One write in flight at a time, so order is kept; the session keeps those
//              bytes where they are until then (no copy).
//   every callback ends in settle(): session.settle(), reading on or off, the timer, or closing
//   the handles once the session is closed.

#include <uv.h>

#include <cstddef>
#include <string>

#include "ringwire/frame_session.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

class UvConnection;

// Told when a connection is done; it destroys the connection.
class UvConnectionOwner {
 public:
  virtual void on_closed(UvConnection& connection) = 0;

 protected:
  ~UvConnectionOwner() = default;
};

// What a loop lends its connections. Plain references: all live on the same loop thread.
struct UvConnectionContext {
  uv_loop_t& loop;
  SessionContext session;
  UvConnectionOwner& owner;
};

class UvConnection final : private SessionTransport {
 public:
  explicit UvConnection(UvConnectionContext& context);
  ~UvConnection();
  UvConnection(const UvConnection&) = delete;
  UvConnection& operator=(const UvConnection&) = delete;

  // Takes an accepted socket and starts reading; closes at once if libuv cannot adopt it.
  void start(UniqueFd socket);
  // The server is draining: close as soon as nothing is unread, partial or unsent.
  void begin_drain();
  // Closes now (drain timeout, shutdown).
  void abort(CloseReason reason);

  std::size_t index_in_owner = 0;  // the owner's bookkeeping (O(1) removal)

 private:
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* request, int status);
  static void on_shutdown(uv_shutdown_t* request, int status);
  static void on_timer(uv_timer_t* timer);
  static void on_handle_closed(uv_handle_t* handle);

  // SessionTransport
  TimePoint now() override;
  void shutdown_write() override;
  bool socket_empty() override;
  void send_owed() override;
  std::string peer_name() const override;

  void send_step();
  void update_reading();
  void update_timer();
  // Every entry point ends here.
  void settle();
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  UvConnectionContext& ctx_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;  // the session's deadline; initialised on first use
  uv_shutdown_t shutdown_request_;
  uv_write_t write_request_;
  FrameSession session_;
  std::size_t write_bytes_ = 0;  // bytes of the uv_write in flight (0: none)
  bool reading_ = false;         // uv_read_start() is in effect
  bool timer_initialised_ = false;
  bool closing_ = false;
  int handles_open_ = 0;  // handles whose close callback is still due
  TimePoint timer_deadline_ = TimePoint::max();
};

}  // namespace ringwire
