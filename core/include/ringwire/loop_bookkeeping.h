#pragma once
// Per-loop bookkeeping, written once for every engine: a loop's connections (O(1) removal), the
// process-wide connection limit (--max-connections), exact balance (the least-loaded loop,
// counting connections handed to a loop and not yet adopted), adoption, drain, and the cut-off at
// the drain timeout. An engine lends each loop's bookkeeping three small things: a LoopAdapter
// (post a task, a timer), its ConnectionTable, and a ConnectionHost (make and start a connection,
// stop listening). Everything the engines used to decide twice is decided here.
//
//   LoopGroup           one per server: the loops, the limit's counter, the drain's completion.
//   LoopBookkeeping     one per loop:   accepted -> refused | adopted here | handed over;
//                                       drain -> begin_drain each -> finished when empty,
//                                       or cut off (abort(kDrainTimeout)) at the timeout.
//   ConnectionTable<C>  one per loop:   the loop's connections; each knows its slot.
//
// Cost: O(1) per accept and close with kernel balance; O(loops) per accept with exact balance (two
// relaxed atomic loads per loop); 8 bytes per connection in the table.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ringwire/connection_refusals.h"
#include "ringwire/event_loop.h"
#include "ringwire/net.h"
#include "ringwire/stats.h"
#include "ringwire/timer_queue.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

// How new connections are spread over the loops.
enum class Balance : std::uint8_t {
  kKernel,  // every loop listens with SO_REUSEPORT; the kernel picks by a hash of the addresses
  kExact,   // the first loop alone listens; each connection goes to the least-loaded loop
};

// The balance this platform can give. macOS's SO_REUSEPORT lets several sockets listen on one
// port but does not spread connections over them, so there kernel balance is exact balance (one
// listener hands connections to the loops). A compile-time branch, untested: no macOS here.
constexpr Balance platform_balance([[maybe_unused]] Balance requested) {
#ifdef __APPLE__
  return Balance::kExact;
#else
  return requested;
#endif
}

// LoopAdapter: what the bookkeeping needs of one engine's loop. Implemented by the engine (the
// native EventLoop through EventLoopAdapter, a libuv loop in the uv engine); not owned here.
class LoopAdapter {
 public:
  // Any thread: runs `task` on the loop's thread soon, in posting order.
  virtual void post(std::function<void()> task) = 0;
  // Loop thread: the loop's clock.
  virtual TimePoint now() = 0;
  // Loop thread: runs `callback` once after `delay`, unless cancelled first. The bookkeeping holds
  // at most one timer at a time (the drain's cut-off), so an adapter may keep a single one.
  virtual TimerId add_timer_after(Clock::duration delay, TimerCallback callback) = 0;
  virtual void cancel_timer(TimerId id) = 0;  // a stale id or kNoTimer is ignored

 protected:
  ~LoopAdapter() = default;
};

// EventLoopAdapter: the native EventLoop as a LoopAdapter. Owned by whoever owns the bookkeeping;
// does not own the loop.
class EventLoopAdapter final : public LoopAdapter {
 public:
  explicit EventLoopAdapter(EventLoop& loop) : loop_(loop) {}
  void post(std::function<void()> task) override { loop_.post(std::move(task)); }
  TimePoint now() override { return loop_.now(); }
  TimerId add_timer_after(Clock::duration delay, TimerCallback callback) override {
    return loop_.add_timer_after(delay, std::move(callback));
  }
  void cancel_timer(TimerId id) override { loop_.cancel_timer(id); }

 private:
  EventLoop& loop_;
};

// ConnectionSet: what the bookkeeping sees of a loop's connections, whatever their transport.
class ConnectionSet {
 public:
  virtual std::size_t size() const = 0;
  // begin_drain() on every connection. Each may close at once (leaving the set) or later.
  virtual void begin_drain_all() = 0;
  // abort(reason) on every connection. Each may close at once (leaving the set) or later.
  virtual void abort_all(CloseReason reason) = 0;
  // begin_drain() on the connection added last, if it is still open.
  virtual void begin_drain_newest() = 0;

 protected:
  ~ConnectionSet() = default;
};

// ConnectionTable: one loop's connections, owned here; each holds its slot in index_in_owner, so
// removal is a swap with the last, O(1). Loop thread only. `Conn` has `std::size_t
// index_in_owner`, `begin_drain()` and `abort(CloseReason)`.
template <class Conn>
class ConnectionTable final : public ConnectionSet {
 public:
  ConnectionTable() = default;
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;
  ~ConnectionTable() = default;

  Conn& add(std::unique_ptr<Conn> connection) {
    connection->index_in_owner = connections_.size();
    newest_ = connection.get();
    connections_.push_back(std::move(connection));
    return *newest_;
  }

  // Destroys `connection`, which must be in this table.
  void remove(Conn& connection) {
    if (&connection == newest_) newest_ = nullptr;
    const std::size_t index = connection.index_in_owner;
    if (index != connections_.size() - 1) {
      std::swap(connections_[index], connections_.back());
      connections_[index]->index_in_owner = index;
    }
    connections_.pop_back();
  }

  bool empty() const { return connections_.empty(); }
  std::size_t size() const override { return connections_.size(); }

  // Calls `visit` once on every connection, from the last: `visit` may remove the connection it is
  // given (the last then moves into its slot, already visited) or leave it for later.
  template <class Visit>
  void for_each(Visit visit) {
    for (std::size_t i = connections_.size(); i-- > 0;) {
      if (i < connections_.size()) visit(*connections_[i]);
    }
  }

  void begin_drain_all() override {
    for_each([](Conn& connection) { connection.begin_drain(); });
  }
  void abort_all(CloseReason reason) override {
    for_each([reason](Conn& connection) { connection.abort(reason); });
  }
  void begin_drain_newest() override {
    if (newest_ != nullptr) newest_->begin_drain();
  }

 private:
  std::vector<std::unique_ptr<Conn>> connections_;
  Conn* newest_ = nullptr;  // the last added, while it is in the table
};

// ConnectionHost: what the bookkeeping asks of the engine's part of a loop.
class ConnectionHost {
 public:
  // Makes a connection on `socket`, adds it to the loop's ConnectionTable, and starts it.
  virtual void open_connection(UniqueFd socket, const SocketAddress& peer) = 0;
  // Closes the loop's listener for good, if it has one.
  virtual void stop_listening() = 0;

 protected:
  ~ConnectionHost() = default;
};

class LoopBookkeeping;

// LoopGroup: the loops of one server and what they share — the connection limit's counter (one
// atomic, touched only on accept and close) and the drain's completion. Owned by the server or
// engine; add() every loop before any starts; drain() from the controlling thread.
class LoopGroup {
 public:
  LoopGroup(std::uint64_t max_connections, Balance balance)
      : max_connections_(max_connections), balance_(platform_balance(balance)) {}
  LoopGroup(const LoopGroup&) = delete;
  LoopGroup& operator=(const LoopGroup&) = delete;

  // With exact balance the first loop added is the one that listens.
  void add(LoopBookkeeping& loop) { loops_.push_back(&loop); }
  Balance balance() const { return balance_; }

  // Graceful drain of every loop: stop listening, close each connection once it is quiet, cut off
  // the rest at `timeout` (kDrainTimeout). `done` runs once, on a loop thread, when every loop has
  // no connection left.
  void drain(Clock::duration timeout, std::function<void()> done);

  // Any thread: connections accepted and not yet closed, in every loop (and in flight).
  std::uint64_t open_connections() const { return open_.load(std::memory_order_relaxed); }

 private:
  friend class LoopBookkeeping;

  LoopBookkeeping& least_loaded(LoopBookkeeping& asking);
  void loop_drained();

  const std::uint64_t max_connections_;  // 0: no limit beyond the descriptor table
  const Balance balance_;
  std::vector<LoopBookkeeping*> loops_;  // set before any loop starts, then only read
  std::atomic<std::uint64_t> open_{0};
  std::atomic<std::size_t> loops_drained_{0};
  std::function<void()> drained_callback_;  // set before the drain tasks are posted
};

// LoopBookkeeping: one loop's share of the LoopGroup. Owned by the engine's part of that loop;
// lends nothing it is given. Loop thread only, except load() (any thread) and the hand-offs other
// loops post to it.
class LoopBookkeeping {
 public:
  LoopBookkeeping(LoopGroup& group, LoopAdapter& loop, LoopStats& stats, ConnectionSet& connections,
                  ConnectionHost& host)
      : group_(group),
        loop_(loop),
        stats_(stats),
        connections_(connections),
        host_(host),
        refusals_(stats) {}
  LoopBookkeeping(const LoopBookkeeping&) = delete;
  LoopBookkeeping& operator=(const LoopBookkeeping&) = delete;

  // A socket this loop's listener accepted: refused past the limit, else adopted here or (exact
  // balance) handed to the least-loaded loop through its task queue.
  void on_accepted(UniqueFd socket, const SocketAddress& peer);
  // A connection of this loop closed and has left its ConnectionTable.
  void on_closed();

  // Any thread: connections this loop serves plus those handed to it and not yet adopted.
  std::uint64_t load() const {
    return stats_.connections_open.get() + in_flight_.load(std::memory_order_relaxed);
  }
  bool draining() const { return draining_; }

 private:
  friend class LoopGroup;

  void adopt(UniqueFd socket, const SocketAddress& peer);
  void drain(Clock::duration timeout);  // any thread: posts the drain to this loop
  void cut_off();
  void finish_drain();

  LoopGroup& group_;
  LoopAdapter& loop_;
  LoopStats& stats_;
  ConnectionSet& connections_;
  ConnectionHost& host_;
  ConnectionRefusals refusals_;
  std::atomic<std::uint64_t> in_flight_{0};  // handed to this loop, adoption task not run yet
  bool draining_ = false;
  bool drained_ = false;
  TimerId drain_timer_ = kNoTimer;
};

}  // namespace ringwire
