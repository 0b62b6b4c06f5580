// UvEngine: the same services on libuv — one uv_loop per thread, each with its own SO_REUSEPORT
// listener, the same frame decoder, backpressure, drain and counters as the native engine.
// The per-loop bookkeeping (connection limit, exact balance, adoption, drain, cut-off) is the
// native engine's LoopBookkeeping over a small LoopAdapter (a uv_async task queue, a uv_timer_t).
//
// Accepting is the native engine's Acceptor watched by a uv_poll_t, not uv_listen(): libuv sheds
// a full descriptor table itself but cannot pause a listener, so under a connection flood it
// accepted and closed every new peer as fast as they came (39% of a core in the EMFILE test,
// against 1-2% with the pause), and it neither counts nor reports what it shed. Connections are
// then plain libuv streams (uv_tcp_open on the accepted socket).

#include <signal.h>
#include <uv.h>

#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "engines/engine.h"
#include "engines/uv_connection.h"
#include "ringwire/acceptor.h"
#include "ringwire/log.h"
#include "ringwire/loop_bookkeeping.h"
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

// UvLoop: one libuv loop and its thread, with that loop's listener, RingPool, Service
// instance, connections, LoopBookkeeping and LoopStats. Owned by the UvEngine. Construction,
// post(), stop() and stats() from the controlling thread (post() and stats() from any); everything
// else on the loop thread, whose only way in from outside is post() (a uv_async wake-up).
class UvLoop final : private UvConnectionOwner,
                     private AcceptHandler,
                     private LoopAdapter,
                     private ConnectionHost {
 public:
  UvLoop(std::size_t index, LoopGroup& group, const ConnectionLimits& limits,
         std::unique_ptr<Service> service)
      : index_(index),
        service_(std::move(service)),
        context_{loop_, SessionContext{rings_, *service_, stats_, limits}, *this},
        book_(group, *this, stats_, connections_, *this) {
    group.add(book_);
    if (const int rc = uv_loop_init(&loop_); rc != 0) fail(rc, "uv_loop_init");
    loop_initialised_ = true;
    uv_async_init(&loop_, &wakeup_, on_wakeup);
    wakeup_.data = this;
    uv_timer_init(&loop_, &timer_);
    timer_.data = this;
    uv_timer_init(&loop_, &accept_pause_timer_);
    accept_pause_timer_.data = this;
    if (BucketHistogram::kEnabled) {
      // A turn's busy time: prepare to prepare, less what libuv spent waiting in between.
      uv_loop_configure(&loop_, UV_METRICS_IDLE_TIME);
      uv_prepare_init(&loop_, &turn_end_);
      turn_end_.data = this;
      uv_prepare_start(&turn_end_, on_turn_end);
      uv_unref(reinterpret_cast<uv_handle_t*>(&turn_end_));  // not what keeps the loop running
    }
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
  void post(std::function<void()> task) override {
    {
      std::lock_guard lock(tasks_mutex_);
      tasks_.push_back(std::move(task));
    }
    uv_async_send(&wakeup_);
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

 private:
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

  // Runs just before libuv waits: one turn ended. Records its busy time in loop_turns.
  static void on_turn_end(uv_prepare_t* prepare) {
    UvLoop& loop = self(prepare->data);
    const std::uint64_t now = uv_hrtime();
    const std::uint64_t idle = uv_metrics_idle_time(&loop.loop_);
    if (loop.last_turn_end_ != 0) {
      const std::uint64_t elapsed = now - loop.last_turn_end_;
      const std::uint64_t waited = idle - loop.last_idle_;
      loop.stats_.loop_turns.record(elapsed > waited ? elapsed - waited : 0);
    }
    loop.last_turn_end_ = now;
    loop.last_idle_ = idle;
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

  // LoopAdapter: one uv_timer_t is enough (the bookkeeping holds at most one timer at a time).
  TimePoint now() override { return Clock::now(); }
  TimerId add_timer_after(Clock::duration delay, TimerCallback callback) override {
    timer_callback_ = std::move(callback);
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(delay).count();
    uv_timer_start(
        &timer_,
        [](uv_timer_t* timer) {
          const TimerCallback due = std::move(self(timer->data).timer_callback_);
          due();
        },
        static_cast<std::uint64_t>(ms), 0);
    return kTheTimer;
  }
  void cancel_timer(TimerId id) override {
    if (id == kTheTimer) uv_timer_stop(&timer_);
  }

  // ConnectionHost
  void open_connection(UniqueFd socket, const SocketAddress&) override {
    connections_.add(std::make_unique<UvConnection>(context_)).start(std::move(socket));
  }
  void stop_listening() override { close_listener(); }

  void on_accepted(UniqueFd socket, const SocketAddress& peer) override {
    book_.on_accepted(std::move(socket), peer);
  }

  void on_closed(UvConnection& connection) override {
    connections_.remove(connection);  // destroys `connection`
    book_.on_closed();
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
    connections_.abort_all(CloseReason::kShutdown);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&accept_pause_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
    if (BucketHistogram::kEnabled) uv_close(reinterpret_cast<uv_handle_t*>(&turn_end_), nullptr);
    // uv_run() returns once the connections' close callbacks have run.
  }

  static constexpr TimerId kTheTimer = 1;

  std::size_t index_;
  uv_loop_t loop_;
  bool loop_initialised_ = false;
  uv_async_t wakeup_;
  uv_timer_t timer_;  // the LoopAdapter's one timer
  TimerCallback timer_callback_;
  uv_poll_t accept_poll_;  // watches acceptor_'s socket; initialised by listen()
  uv_timer_t accept_pause_timer_;
  uv_prepare_t turn_end_;            // times each turn (stats_.loop_turns)
  std::uint64_t last_turn_end_ = 0;  // uv_hrtime() at the last turn's end; 0 before the first
  std::uint64_t last_idle_ = 0;      // uv_metrics_idle_time() then
  LoopStats stats_;
  std::optional<Acceptor> acceptor_;  // this loop's listening socket, if it has one
  RingPool rings_;
  std::unique_ptr<Service> service_;
  UvConnectionContext context_;
  ConnectionTable<UvConnection> connections_;
  LoopBookkeeping book_;
  std::thread thread_;
  std::mutex tasks_mutex_;
  std::vector<std::function<void()>> tasks_;  // guarded by tasks_mutex_
  std::vector<std::function<void()>> running_tasks_;
  bool shut_down_ = false;
};

// UvEngine: owns the UvLoops. Construct, start(), drain() and stop() from the controlling thread;
// stats() from any thread.
class UvEngine final : public Engine {
 public:
  explicit UvEngine(const ServerConfig& config)
      : config_(config),
        limits_(connection_limits(config)),
        group_(config.max_connections, config.balance) {}
  ~UvEngine() override { stop(); }

  void start() override {
    // libuv writes with write()/writev(), not send(MSG_NOSIGNAL): without this a peer's reset
    // would kill the process with SIGPIPE instead of failing one write with EPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    address_ = resolve_address(config_.bind, config_.port);
    const std::size_t count = config_.threads == 0 ? Reactor::online_cores() : config_.threads;
    // kernel: every loop listens and the kernel spreads connections by a hash of the addresses.
    // exact: loop 0 alone listens and hands each connection to the least-loaded loop.
    const std::size_t listeners = group_.balance() == Balance::kExact ? 1 : count;
    std::vector<UniqueFd> sockets =
        config_.inherited_listeners.empty()
            ? make_reuseport_listeners(address_, listeners, config_.reuse_port)
            : adopt_listeners(config_.inherited_listeners, listeners, address_);
    for (const UniqueFd& socket : sockets) listening_fds_.push_back(socket.get());
    const ServiceFactory make_service = service_factory(config_.service, config_.max_frame);
    for (std::size_t i = 0; i < count; ++i) {
      loops_.push_back(std::make_unique<UvLoop>(i, group_, limits_, make_service()));
      if (i < listeners) loops_.back()->listen(std::move(sockets[i]));
    }
    for (auto& loop : loops_) loop->start(config_.pin_cpus);
  }
  std::uint16_t port() const override { return address_.port(); }
  std::size_t loops() const override { return loops_.size(); }
  std::string backend() const override { return "libuv"; }
  std::vector<int> listening_fds() const override { return listening_fds_; }
  void drain(Clock::duration timeout, std::function<void()> done) override {
    group_.drain(timeout, std::move(done));
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
  ConnectionLimits limits_;  // the loops' sessions keep a reference
  LoopGroup group_;
  SocketAddress address_;
  std::vector<int> listening_fds_;
  std::vector<std::unique_ptr<UvLoop>> loops_;
};

}  // namespace

std::unique_ptr<Engine> make_uv_engine(const ServerConfig& config) {
  return std::make_unique<UvEngine>(config);
}

}  // namespace ringwire
