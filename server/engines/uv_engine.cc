// UvEngine: the same services on libuv — one uv_loop per thread, each with its own SO_REUSEPORT
// listener, the same frame decoder, backpressure, drain and counters as the native engine.
// With --balance exact, loop 0 alone listens and hands each socket to the loop with the fewest
// connections (open plus in transit) through that loop's task queue, as the native Server does.
//
// Accepting is the native engine's Acceptor watched by a uv_poll_t, not uv_listen(): libuv sheds
// a full descriptor table itself but cannot pause a listener, so under a connection flood it
// accepted and closed every new peer as fast as they came (39% of a core in the EMFILE test,
// against 1-2% with the pause), and it neither counts nor reports what it shed. Connections are
// then plain libuv streams (uv_tcp_open on the accepted socket).

#include <signal.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "engines/engine.h"
#include "engines/uv_connection.h"
#include "ringwire/acceptor.h"
#include "ringwire/connection_refusals.h"
#include "ringwire/log.h"
#include "ringwire/net.h"
#include "ringwire/reactor.h"
#include "ringwire/ring_pool.h"
#include "services/services.h"

namespace ringwire {
namespace {

[[noreturn]] void fail(int uv_error, const std::string& what) {
  throw std::system_error(-uv_error, std::generic_category(), what);
}

ConnectionLimits connection_limits(const ServerConfig& config) {
  ConnectionLimits limits;
  limits.max_frame = config.max_frame;
  limits.idle_timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config.idle_timeout_s));
  return limits;
}

// What every loop of the engine shares: the configuration and the connection limit (one atomic
// counter touched only on accept and close, as in the native Server). Owned by the UvEngine.
class UvLoop;

struct UvShared {
  ConnectionLimits limits;
  bool exact_balance = false;
  std::vector<UvLoop*> loops;  // every loop, by index; set before any loop starts
  std::uint64_t max_connections = 0;
  std::atomic<std::uint64_t> open_connections{0};
  std::atomic<std::size_t> loops_drained{0};
  std::size_t loop_count = 0;
  std::function<void()> drained_callback;
};

// UvLoop: one libuv loop and its thread, with that loop's listener, RingPool, Service
// instance, connections and LoopStats. Owned by the UvEngine. Construction, post(), stop() and
// stats() from the controlling thread (post() and stats() from any); everything else on the loop
// thread, whose only way in from outside is post() (a uv_async wake-up).
class UvLoop final : private UvConnectionOwner, private AcceptHandler {
 public:
  UvLoop(std::size_t index, UvShared& shared, std::unique_ptr<Service> service)
      : index_(index),
        shared_(shared),
        service_(std::move(service)),
        context_{loop_, SessionContext{rings_, *service_, stats_, shared.limits}, *this} {
    if (const int rc = uv_loop_init(&loop_); rc != 0) fail(rc, "uv_loop_init");
    loop_initialised_ = true;
    uv_async_init(&loop_, &wakeup_, on_wakeup);
    wakeup_.data = this;
    uv_timer_init(&loop_, &drain_timer_);
    drain_timer_.data = this;
    uv_timer_init(&loop_, &accept_pause_timer_);
    accept_pause_timer_.data = this;
  }

  ~UvLoop() {
    stop();
    if (loop_initialised_) uv_loop_close(&loop_);
  }
  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;

  // Hands this loop its listening socket, made, bound and listening (make_reuseport_listeners:
  // libuv 1.44 has no UV_TCP_REUSEPORT). Before start().
  void listen(UniqueFd listen_socket) {
    acceptor_.emplace(std::move(listen_socket), static_cast<AcceptHandler&>(*this), stats_);
    if (const int rc = uv_poll_init_socket(&loop_, &accept_poll_, acceptor_->fd()); rc != 0) {
      fail(rc, "uv_poll_init_socket");
    }
    accept_poll_.data = this;
    watch_listener();
  }

  void start(bool pin) {
    thread_ = std::thread([this, pin] {
      setup_loop_thread(index_, pin);
      uv_run(&loop_, UV_RUN_DEFAULT);  // returns once shut_down() has closed every handle
    });
  }

  // Any thread: runs `task` on the loop thread soon, in posting order.
  void post(std::function<void()> task) {
    {
      std::lock_guard lock(tasks_mutex_);
      tasks_.push_back(std::move(task));
    }
    uv_async_send(&wakeup_);
  }

  void drain(Clock::duration timeout) {
    post([this, timeout] {
      draining_ = true;
      close_listener();
      // With exact balance the others drain only once loop 0's listener is closed: every hand-off
      // was posted before their drain task, so a connection in transit is adopted, then drained.
      if (shared_.exact_balance && index_ == 0) {
        for (UvLoop* other : shared_.loops) {
          if (other != this) other->drain(timeout);
        }
      }
      uv_timer_start(
          &drain_timer_, on_drain_timeout,
          static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(timeout).count()),
          0);
      // begin_drain() may start closing a connection; it leaves this list only in a later
      // close callback, so iterating here is safe.
      for (auto& connection : connections_) connection->begin_drain();
      if (connections_.empty()) finish_drain();
    });
  }

  // Closes every handle (open connections count as kShutdown) and joins the thread. Idempotent.
  void stop() {
    if (thread_.joinable()) {
      post([this] { shut_down(); });
      thread_.join();
    } else if (loop_initialised_ && !shut_down_) {
      shut_down();  // never started: close the handles here
      uv_run(&loop_, UV_RUN_DEFAULT);
    }
  }

  const LoopStats& stats() const { return stats_; }

  // Any thread: connections this loop serves or has been handed and not yet adopted.
  std::uint64_t load() const {
    return stats_.connections_open.get() + in_transit_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::size_t kDetached = ~std::size_t{0};

  static UvLoop& self(void* data) { return *static_cast<UvLoop*>(data); }

  static void on_wakeup(uv_async_t* async) {
    UvLoop& loop = self(async->data);
    {
      std::lock_guard lock(loop.tasks_mutex_);
      loop.running_tasks_.swap(loop.tasks_);
    }
    for (auto& task : loop.running_tasks_) task();
    loop.running_tasks_.clear();
  }

  void watch_listener() {
    uv_poll_start(&accept_poll_, UV_READABLE, [](uv_poll_t* poll, int, int) {
      UvLoop& loop = self(poll->data);
      if (loop.acceptor_->accept_waiting(Clock::now()) == Acceptor::Result::kPauseAccepting) {
        loop.pause_accepting();
      }
    });
  }

  void pause_accepting() {
    if (!acceptor_->open()) return;
    uv_poll_stop(&accept_poll_);
    uv_timer_start(
        &accept_pause_timer_,
        [](uv_timer_t* timer) {
          UvLoop& loop = self(timer->data);
          loop.acceptor_->pause_ended();
          if (loop.acceptor_->open()) loop.watch_listener();
        },
        static_cast<std::uint64_t>(Acceptor::kPause.count()), 0);
  }

  static void on_drain_timeout(uv_timer_t* timer) {
    UvLoop& loop = self(timer->data);
    if (!loop.connections_.empty()) {
      log(LogLevel::kWarn, "drain timeout: cutting off {} busy connection(s) on this loop",
          loop.connections_.size());
    }
    for (auto& connection : loop.connections_) connection->abort(CloseReason::kDrainTimeout);
  }

  void on_accepted(UniqueFd socket, const SocketAddress& peer) override {
    const std::uint64_t limit = shared_.max_connections;
    if (limit != 0 && shared_.open_connections.load(std::memory_order_relaxed) >= limit) {
      refusals_.refuse(limit, peer, Clock::now());
      return;  // `socket` closes here
    }
    shared_.open_connections.fetch_add(1, std::memory_order_relaxed);
    UvLoop& target = shared_.exact_balance ? least_loaded() : *this;
    if (&target == this) return adopt(std::move(socket));
    // A libuv handle cannot change loops, but a socket can: it travels owned through the target
    // loop's task queue.
    target.in_transit_.fetch_add(1, std::memory_order_relaxed);
    auto handed = std::make_shared<UniqueFd>(std::move(socket));
    target.post([&target, handed] {
      target.in_transit_.fetch_sub(1, std::memory_order_relaxed);
      target.adopt(std::move(*handed));
    });
  }

  // The loop with the fewest connections (ties: the lowest index). O(loops), on accept only.
  UvLoop& least_loaded() {
    UvLoop* best = this;
    for (UvLoop* loop : shared_.loops) {
      if (loop->load() < best->load()) best = loop;
    }
    return *best;
  }

  // Makes a connection of this loop on `socket` and starts it.
  void adopt(UniqueFd socket) {
    stats_.connections_accepted.add();
    stats_.connections_open.add();
    auto connection = std::make_unique<UvConnection>(context_);
    connection->index_in_owner = connections_.size();
    UvConnection& started = *connection;
    connections_.push_back(std::move(connection));
    started.start(std::move(socket));
  }

  void on_closed(UvConnection& connection) override {
    shared_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    const std::size_t index = connection.index_in_owner;
    if (index != connections_.size() - 1) {
      std::swap(connections_[index], connections_.back());
      connections_[index]->index_in_owner = index;
    }
    connections_.pop_back();  // destroys `connection`
    if (draining_ && connections_.empty()) finish_drain();
  }

  void finish_drain() {
    if (drained_) return;
    drained_ = true;
    uv_timer_stop(&drain_timer_);
    if (shared_.loops_drained.fetch_add(1) + 1 == shared_.loop_count && shared_.drained_callback) {
      shared_.drained_callback();
    }
  }

  // Stops accepting for good; new peers are refused at once.
  void close_listener() {
    if (!acceptor_ || !acceptor_->open()) return;
    uv_timer_stop(&accept_pause_timer_);
    // uv_close() takes the socket out of the loop's epoll set before it returns, so the socket
    // can close right after (its number may be reused by the next connection).
    uv_close(reinterpret_cast<uv_handle_t*>(&accept_poll_), nullptr);
    acceptor_->close();
  }

  void shut_down() {
    shut_down_ = true;
    close_listener();
    for (auto& connection : connections_) connection->abort(CloseReason::kShutdown);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&accept_pause_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
    // uv_run() returns once the connections' close callbacks have run.
  }

  std::size_t index_;
  UvShared& shared_;
  uv_loop_t loop_;
  bool loop_initialised_ = false;
  uv_async_t wakeup_;
  uv_timer_t drain_timer_;
  uv_poll_t accept_poll_;  // watches acceptor_'s socket; initialised by listen()
  uv_timer_t accept_pause_timer_;
  LoopStats stats_;
  std::optional<Acceptor> acceptor_;  // this loop's listening socket, if it has one
  RingPool rings_;
  std::unique_ptr<Service> service_;
  UvConnectionContext context_;
  std::vector<std::unique_ptr<UvConnection>> connections_;
  std::thread thread_;
  std::mutex tasks_mutex_;
  std::vector<std::function<void()>> tasks_;  // guarded by tasks_mutex_
  std::vector<std::function<void()>> running_tasks_;
  std::atomic<std::uint64_t> in_transit_{0};  // handed to this loop, adoption task not run yet
  bool draining_ = false;
  bool drained_ = false;
  bool shut_down_ = false;
  ConnectionRefusals refusals_{stats_};
};

// UvEngine: owns the UvLoops. Construct, start(), drain() and stop() from the controlling thread;
// stats() from any thread.
class UvEngine final : public Engine {
 public:
  explicit UvEngine(const ServerConfig& config) : config_(config) {
    shared_.limits = connection_limits(config);
    shared_.max_connections = config.max_connections;
  }
  ~UvEngine() override { stop(); }

  void start() override {
    shared_.exact_balance = config_.balance == Balance::kExact;
    // libuv writes with write()/writev(), not send(MSG_NOSIGNAL): without this a peer's reset
    // would kill the process with SIGPIPE instead of failing one write with EPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    address_ = resolve_address(config_.bind, config_.port);
    const std::size_t count = config_.threads == 0 ? Reactor::online_cores() : config_.threads;
    // kernel: every loop listens and the kernel spreads connections by a hash of the addresses.
    // exact: loop 0 alone listens and hands each connection to the least-loaded loop.
    const std::size_t listeners = shared_.exact_balance ? 1 : count;
    std::vector<UniqueFd> sockets = make_reuseport_listeners(address_, listeners);
    const ServiceFactory make_service = service_factory(config_.service, config_.max_frame);
    shared_.loop_count = count;
    for (std::size_t i = 0; i < count; ++i) {
      loops_.push_back(std::make_unique<UvLoop>(i, shared_, make_service()));
      shared_.loops.push_back(loops_.back().get());
      if (i < listeners) loops_.back()->listen(std::move(sockets[i]));
    }
    for (auto& loop : loops_) loop->start(config_.pin_cpus);
  }
  std::uint16_t port() const override { return address_.port(); }
  std::size_t loops() const override { return loops_.size(); }
  std::string backend() const override { return "libuv"; }
  void drain(Clock::duration timeout, std::function<void()> done) override {
    shared_.drained_callback = std::move(done);
    if (shared_.exact_balance) {
      loops_.front()->drain(timeout);  // which drains the others after closing its listener
      return;
    }
    for (auto& loop : loops_) loop->drain(timeout);
  }
  void stop() override {
    for (auto& loop : loops_) loop->stop();
  }
  StatsSnapshot stats() const override {
    StatsSnapshot total;
    for (const auto& loop : loops_) total.add(loop->stats());
    return total;
  }
  StatsSnapshot loop_stats(std::size_t loop) const override {
    StatsSnapshot snapshot;
    snapshot.add(loops_[loop]->stats());
    return snapshot;
  }

 private:
  ServerConfig config_;
  UvShared shared_;
  SocketAddress address_;
  std::vector<std::unique_ptr<UvLoop>> loops_;
};

}  // namespace

std::unique_ptr<Engine> make_uv_engine(const ServerConfig& config) {
  return std::make_unique<UvEngine>(config);
}

}  // namespace ringwire
