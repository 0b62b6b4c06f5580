#pragma once
// Server: runs a Service on every loop of a Reactor. Per loop it owns one Listener (all bound to
// the same address with SO_REUSEPORT), one RingPool, one Service instance, the loop's connections,
// its LoopBookkeeping and its LoopStats. Nothing is shared between loops on the data path; the
// connection limit is one atomic counter (the LoopGroup's) touched only on accept and close.
//
// Call start(), port(), drain() and stats() from the controlling thread (any thread for stats()).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ringwire/frame_session.h"
#include "ringwire/loop_bookkeeping.h"
#include "ringwire/net.h"
#include "ringwire/reactor.h"
#include "ringwire/service.h"
#include "ringwire/stats.h"

namespace ringwire {

struct ServerOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 7000;  // 0: the kernel picks a free port (see port())
  ConnectionLimits limits;
  std::uint64_t max_connections = 0;  // 0: no limit beyond the descriptor table
  Balance balance = Balance::kKernel;
  // Join an SO_REUSEPORT group already listening on the port (another ringwire process of the same
  // user) instead of refusing the port as in use: several processes on one port, rolling restarts.
  bool join_reuseport_group = false;
  // Listening sockets handed over by the process this one replaces (ownership passes to start()),
  // used instead of binding new ones; none: bind.
  std::vector<int> inherited_listeners;
};

class Server {
 public:
  Server(Reactor& reactor, ServerOptions options, ServiceFactory make_service);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds one listening socket per loop and starts accepting. Throws std::system_error whose
  // what() is one line ("bind 127.0.0.1:7000: Address already in use"). A port already served by
  // another process is refused, even one that also uses SO_REUSEPORT, unless
  // options.join_reuseport_group.
  void start();
  std::uint16_t port() const { return address_.port(); }
  const SocketAddress& address() const { return address_; }
  std::size_t loop_count() const { return loops_.size(); }
  // The listening sockets, for handing them over to a successor; after start(), and only until
  // drain() (which closes them).
  const std::vector<int>& listening_fds() const { return listening_fds_; }

  // Graceful drain: close every listener, then close each connection once it is quiet (nothing
  // unread, no partial frame, nothing unsent); at `timeout` cut off the rest (counted as
  // kDrainTimeout). `done` runs once, on a loop thread, when every loop has no connection left.
  void drain(Clock::duration timeout, std::function<void()> done);

  StatsSnapshot stats() const;  // any thread
  StatsSnapshot loop_stats(std::size_t loop) const;

 private:
  class LoopPart;

  Reactor& reactor_;
  ServerOptions options_;
  ServiceFactory make_service_;
  SocketAddress address_;
  std::vector<int> listening_fds_;
  LoopGroup group_;  // before loops_: they keep references to it
  std::vector<std::unique_ptr<LoopPart>> loops_;
};

}  // namespace ringwire
