#include "ringwire/server.h"

#include <csignal>
#include <system_error>

#include "ringwire/connection.h"
#include "ringwire/listener.h"
#include "ringwire/log.h"
#include "ringwire/pipe_pool.h"
#include "ringwire/ring_pool.h"
#include "ringwire/uring_connection.h"

namespace ringwire {

// splice(2) into a socket cannot say MSG_NOSIGNAL: a peer's reset would raise SIGPIPE. So pass-
// through is used only where the process ignores SIGPIPE (ringwire-server's engines do).
namespace {
bool sigpipe_ignored() {
  struct sigaction action {};
  return ::sigaction(SIGPIPE, nullptr, &action) == 0 && action.sa_handler == SIG_IGN;
}
}  // namespace

// LoopPart: the server's share of one loop. Owned by the Server; owns that loop's Listener,
// RingPool, PipePool, Service instance, Connections and LoopBookkeeping. Loop thread only, except
// construction.
class Server::LoopPart final : public AcceptHandler, private ConnectionHost {
 public:
  LoopPart(Server& server, EventLoop& loop, UniqueFd listen_socket)
      : loop_(loop),
        adapter_(loop),
        service_(server.make_service_()),
        context_{loop, SessionContext{rings_, *service_, stats_, server.options_.limits}, pipes_,
                 service_->echoes_every_frame() && sigpipe_ignored(),
                 [this](NativeConnection& connection) { on_closed(connection); }},
        listener_(loop, std::move(listen_socket), *this, stats_),
        book_(server.group_, adapter_, stats_, connections_, *this) {
    server.group_.add(book_);
    loop.count_overflows_in(&stats_.uring_cq_overflows);
    loop.record_turns_in(stats_.loop_turns);
  }
  // Destroyed once the loops have stopped (as its connections, which cancel their operations).
  ~LoopPart() { loop_.count_overflows_in(nullptr); }
  // A loop that only serves connections handed over by another loop's listener (exact balance).
  LoopPart(Server& server, EventLoop& loop) : LoopPart(server, loop, UniqueFd()) {}

  void start() {
    if (listener_.open()) loop_.post([this] { listener_.start(); });
  }

  void on_accepted(UniqueFd socket, const SocketAddress& peer) override {
    book_.on_accepted(std::move(socket), peer);
  }

  LoopStats& stats() { return stats_; }

 private:
  // ConnectionHost
  void open_connection(UniqueFd socket, const SocketAddress& peer) override {
    // A loop whose poller has the completion form gets the completion transport.
    std::unique_ptr<NativeConnection> connection;
    if (loop_.completions()) {
      connection = std::make_unique<UringConnection>(context_, std::move(socket), peer);
    } else {
      connection = std::make_unique<Connection>(context_, std::move(socket), peer);
    }
    connections_.add(std::move(connection)).start();
  }
  void stop_listening() override { listener_.close(); }

  void on_closed(NativeConnection& connection) {
    connections_.remove(connection);  // destroys `connection`
    book_.on_closed();
  }

  EventLoop& loop_;
  EventLoopAdapter adapter_;
  LoopStats stats_;
  RingPool rings_;
  PipePool pipes_;
  std::unique_ptr<Service> service_;
  ConnectionContext context_;
  Listener listener_;
  ConnectionTable<NativeConnection> connections_;  // destroyed before all above, which they use
  LoopBookkeeping book_;
};

Server::Server(Reactor& reactor, ServerOptions options, ServiceFactory make_service)
    : reactor_(reactor),
      options_(std::move(options)),
      make_service_(std::move(make_service)),
      group_(options_.max_connections, options_.balance) {}

Server::~Server() = default;

void Server::start() {
  address_ = resolve_address(options_.bind, options_.port);
  // kKernel: every loop listens and the kernel spreads connections by a hash of the addresses.
  // kExact: loop 0 alone listens and hands each connection to the least-loaded loop.
  const std::size_t listeners = group_.balance() == Balance::kExact ? 1 : reactor_.size();
  std::vector<UniqueFd> sockets =
      options_.inherited_listeners.empty()
          ? make_reuseport_listeners(address_, listeners, options_.join_reuseport_group)
          : adopt_listeners(options_.inherited_listeners, listeners, address_);
  for (const UniqueFd& socket : sockets) listening_fds_.push_back(socket.get());
  for (std::size_t i = 0; i < reactor_.size(); ++i) {
    loops_.push_back(
        i < listeners ? std::make_unique<LoopPart>(*this, reactor_.loop(i), std::move(sockets[i]))
                      : std::make_unique<LoopPart>(*this, reactor_.loop(i)));
  }
  for (auto& loop : loops_) loop->start();
}

void Server::drain(Clock::duration timeout, std::function<void()> done) {
  group_.drain(timeout, std::move(done));
}

StatsSnapshot Server::stats() const {
  StatsSnapshot total;
  for (const auto& loop : loops_) total.add(loop->stats());
  return total;
}

StatsSnapshot Server::loop_stats(std::size_t loop) const {
  StatsSnapshot snapshot;
  snapshot.add(loops_[loop]->stats());
  return snapshot;
}

}  // namespace ringwire
