#include "ringwire/server.h"

#include <csignal>
#include <system_error>

#include "ringwire/connection_refusals.h"
#include "ringwire/listener.h"
#include "ringwire/log.h"
#include "ringwire/pipe_pool.h"
#include "ringwire/ring_pool.h"

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
// RingPool, PipePool, Service instance and Connections. Loop thread only, except construction.
class Server::LoopPart final : public AcceptHandler {
 public:
  LoopPart(Server& server, EventLoop& loop, UniqueFd listen_socket)
      : server_(server),
        loop_(loop),
        service_(server.make_service_()),
        context_{loop, SessionContext{rings_, *service_, stats_, server.options_.limits}, pipes_,
                 service_->echoes_every_frame() && sigpipe_ignored(),
                 [this](Connection& connection) { on_closed(connection); }},
        listener_(loop, std::move(listen_socket), *this, stats_) {}
  // A loop that only serves connections handed over by another loop's listener (exact balance).
  LoopPart(Server& server, EventLoop& loop) : LoopPart(server, loop, UniqueFd()) {}

  ~LoopPart() {
    for (auto& connection : connections_) connection->index_in_owner = kDetached;
    connections_.clear();
  }

  void start() {
    if (listener_.open()) loop_.post([this] { listener_.start(); });
  }

  void drain(Clock::duration timeout) {
    loop_.post([this, timeout] {
      draining_ = true;
      listener_.close();
      // With exact balance the others drain only once loop 0's listener is closed: every hand-off
      // was posted before their drain task, so a connection in flight is adopted, then drained.
      if (server_.options_.balance == Balance::kExact && server_.loops_.front().get() == this) {
        for (auto& other : server_.loops_) {
          if (other.get() != this) other->drain(timeout);
        }
      }
      drain_timer_ = loop_.add_timer_after(timeout, [this] { cut_off(); });
      std::vector<Connection*> open;
      for (auto& connection : connections_) open.push_back(connection.get());
      for (Connection* connection : open) connection->begin_drain();  // may close it
      if (connections_.empty()) finish_drain();
    });
  }

  void on_accepted(UniqueFd socket, const SocketAddress& peer) override {
    const std::uint64_t limit = server_.options_.max_connections;
    if (limit != 0 && server_.open_connections_.load(std::memory_order_relaxed) >= limit) {
      refusals_.refuse(limit, peer, loop_.now());
      return;  // `socket` closes here
    }
    server_.open_connections_.fetch_add(1, std::memory_order_relaxed);
    LoopPart& target = server_.options_.balance == Balance::kExact ? least_loaded() : *this;
    if (&target == this) return adopt(std::move(socket), peer);
    // Hand over through the target loop's task queue; the descriptor travels owned. In flight
    // until adopted, and counted in the target's load meanwhile.
    target.in_flight_.fetch_add(1, std::memory_order_relaxed);
    auto handed = std::make_shared<UniqueFd>(std::move(socket));
    target.loop_.post([&target, handed, peer] {
      target.adopt(std::move(*handed), peer);
      target.in_flight_.fetch_sub(1, std::memory_order_relaxed);
    });
  }

  // Takes a connection accepted by this loop's listener or handed over by another loop's.
  void adopt(UniqueFd socket, const SocketAddress& peer) {
    stats_.connections_accepted.add();
    stats_.connections_open.add();
    auto connection = std::make_unique<Connection>(context_, std::move(socket), peer);
    connection->index_in_owner = connections_.size();
    Connection& started = *connection;
    connections_.push_back(std::move(connection));
    started.start();
    if (draining_) started.begin_drain();  // handed over just as the drain began
  }

  // Any thread: connections this loop serves plus those handed to it and not yet adopted.
  std::uint64_t load() const {
    return stats_.connections_open.get() + in_flight_.load(std::memory_order_relaxed);
  }

  LoopStats& stats() { return stats_; }

 private:
  static constexpr std::size_t kDetached = ~std::size_t{0};

  // The loop with the lowest load (ties: the lowest index). O(loops), on accept only.
  LoopPart& least_loaded() {
    LoopPart* best = this;
    for (auto& part : server_.loops_) {
      if (part->load() < best->load()) best = part.get();
    }
    return *best;
  }

  void on_closed(Connection& connection) {
    server_.open_connections_.fetch_sub(1, std::memory_order_relaxed);
    const std::size_t index = connection.index_in_owner;
    if (index == kDetached) return;  // the owner itself is tearing down
    if (index != connections_.size() - 1) {
      std::swap(connections_[index], connections_.back());
      connections_[index]->index_in_owner = index;
    }
    connections_.pop_back();  // destroys `connection`
    if (draining_ && connections_.empty()) finish_drain();
  }

  void cut_off() {
    drain_timer_ = kNoTimer;
    if (!connections_.empty()) {
      log(LogLevel::kWarn, "drain timeout: cutting off {} busy connection(s) on this loop",
          connections_.size());
    }
    while (!connections_.empty()) connections_.back()->abort(CloseReason::kDrainTimeout);
  }

  void finish_drain() {
    if (drained_) return;
    drained_ = true;
    loop_.cancel_timer(drain_timer_);
    server_.on_loop_drained();
  }

  Server& server_;
  EventLoop& loop_;
  LoopStats stats_;
  RingPool rings_;
  PipePool pipes_;
  std::unique_ptr<Service> service_;
  ConnectionContext context_;
  Listener listener_;
  std::vector<std::unique_ptr<Connection>> connections_;
  bool draining_ = false;
  bool drained_ = false;
  TimerId drain_timer_ = kNoTimer;
  ConnectionRefusals refusals_{stats_};
  std::atomic<std::uint64_t> in_flight_{0};  // handed to this loop, adoption task not run yet
};

Server::Server(Reactor& reactor, ServerOptions options, ServiceFactory make_service)
    : reactor_(reactor), options_(std::move(options)), make_service_(std::move(make_service)) {}

Server::~Server() = default;

void Server::start() {
  address_ = resolve_address(options_.bind, options_.port);
  // kKernel: every loop listens and the kernel spreads connections by a hash of the addresses.
  // kExact: loop 0 alone listens and hands each connection to the least-loaded loop.
  const std::size_t listeners = options_.balance == Balance::kExact ? 1 : reactor_.size();
  std::vector<UniqueFd> sockets = make_reuseport_listeners(address_, listeners);
  for (std::size_t i = 0; i < reactor_.size(); ++i) {
    loops_.push_back(
        i < listeners ? std::make_unique<LoopPart>(*this, reactor_.loop(i), std::move(sockets[i]))
                      : std::make_unique<LoopPart>(*this, reactor_.loop(i)));
  }
  for (auto& loop : loops_) loop->start();
}

void Server::drain(Clock::duration timeout, std::function<void()> done) {
  drained_callback_ = std::move(done);
  if (options_.balance == Balance::kExact) {
    loops_.front()->drain(timeout);  // which drains the others once its listener is closed
    return;
  }
  for (auto& loop : loops_) loop->drain(timeout);
}

void Server::on_loop_drained() {
  if (loops_drained_.fetch_add(1) + 1 == loops_.size() && drained_callback_) drained_callback_();
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
