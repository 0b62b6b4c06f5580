#include "ringwire/loop_bookkeeping.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <optional>

#include "ringwire/reactor.h"
#include "support/test_server.h"

namespace ringwire {
namespace {

using std::chrono::seconds;

// A loop driven by hand: posted tasks wait until run_tasks(), the one timer until fire_timer().
class FakeLoop final : public LoopAdapter {
 public:
  void post(std::function<void()> task) override { tasks_.push_back(std::move(task)); }
  TimePoint now() override { return TimePoint{}; }
  TimerId add_timer_after(Clock::duration delay, TimerCallback callback) override {
    EXPECT_FALSE(timer_) << "the bookkeeping holds one timer at a time";
    timer_ = std::move(callback);
    timer_delay = delay;
    return ++timer_id_;
  }
  void cancel_timer(TimerId id) override {
    if (id != kNoTimer && id == timer_id_) timer_.reset();
  }

  // Runs every task posted so far and those they post. Returns how many ran.
  std::size_t run_tasks() {
    std::size_t ran = 0;
    while (!tasks_.empty()) {
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      task();
      ++ran;
    }
    return ran;
  }
  bool timer_armed() const { return timer_.has_value(); }
  void fire_timer() {
    auto callback = std::move(*timer_);
    timer_.reset();
    callback();
  }

  Clock::duration timer_delay{};

 private:
  std::deque<std::function<void()>> tasks_;
  std::optional<TimerCallback> timer_;
  TimerId timer_id_ = 0;
};

class FakePart;

// A connection that closes at once (as the native transport does) or only when its part says so
// (as libuv's close callbacks do).
struct FakeConnection {
  FakeConnection(FakePart& owner, UniqueFd fd) : part(owner), socket(std::move(fd)) {}
  void begin_drain();
  void abort(CloseReason reason);
  void close(CloseReason reason);

  FakePart& part;
  UniqueFd socket;
  std::size_t index_in_owner = 0;
  int drains = 0;
  std::optional<CloseReason> aborted;
  bool closing = false;
};

// The engine's part of one loop, as an engine writes it: the adapter, the table, the hooks.
class FakePart final : public ConnectionHost {
 public:
  FakePart(LoopGroup& group, FakeLoop& loop) : book(group, loop, stats, table, *this) {
    group.add(book);
  }

  void open_connection(UniqueFd socket, const SocketAddress&) override {
    table.add(std::make_unique<FakeConnection>(*this, std::move(socket)));
  }
  void stop_listening() override { listening = false; }

  void on_closed(FakeConnection& connection) {
    table.remove(connection);
    book.on_closed();
  }
  // Closes every connection that asked to close later (a libuv close callback).
  void run_close_callbacks() {
    table.for_each([](FakeConnection& c) {
      if (c.closing) c.close(c.aborted.value_or(CloseReason::kDrained));
    });
  }

  bool close_at_once = true;
  bool listening = true;
  LoopStats stats;
  ConnectionTable<FakeConnection> table;
  LoopBookkeeping book;
};

void FakeConnection::begin_drain() {
  ++drains;
  if (part.close_at_once) {
    close(CloseReason::kDrained);
  } else {
    closing = true;
  }
}

void FakeConnection::abort(CloseReason reason) {
  if (!aborted) aborted = reason;
  if (part.close_at_once) {
    close(reason);
  } else {
    closing = true;
  }
}

void FakeConnection::close(CloseReason reason) {
  part.stats.count_close(reason);
  part.stats.connections_open.sub();
  part.on_closed(*this);  // destroys this
}

UniqueFd some_socket() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

// `count` loops of fake parts in one group.
struct Loops {
  Loops(std::size_t count, Balance balance, std::uint64_t max_connections = 0)
      : group(max_connections, balance), loops(count) {
    for (auto& loop : loops) parts.push_back(std::make_unique<FakePart>(group, loop));
  }
  // Runs the loops' tasks, in loop order, until none is left. Returns how many ran.
  std::size_t run_all_tasks() {
    std::size_t total = 0;
    while (true) {
      std::size_t ran = 0;
      for (auto& loop : loops) ran += loop.run_tasks();
      if (ran == 0) return total;
      total += ran;
    }
  }
  FakePart& part(std::size_t i) { return *parts[i]; }
  void accept(std::size_t loop) { part(loop).book.on_accepted(some_socket(), SocketAddress{}); }

  LoopGroup group;
  std::deque<FakeLoop> loops;
  std::vector<std::unique_ptr<FakePart>> parts;
};

TEST(ConnectionTableTest, RemovesAnyConnectionInPlaceAndKeepsEverySlotRight) {
  Loops l(1, Balance::kKernel);
  FakePart& part = l.part(0);
  std::vector<FakeConnection*> added;
  for (int i = 0; i < 5; ++i) {
    added.push_back(&part.table.add(std::make_unique<FakeConnection>(part, UniqueFd())));
  }
  part.table.remove(*added[1]);  // the last moves into slot 1
  part.table.remove(*added[4]);  // now in slot 1
  ASSERT_EQ(part.table.size(), 3u);
  std::vector<std::size_t> slots;
  part.table.for_each([&](FakeConnection& c) { slots.push_back(c.index_in_owner); });
  EXPECT_EQ(slots, (std::vector<std::size_t>{2, 1, 0}));
}

TEST(ConnectionTableTest, ForEachVisitsEveryConnectionOnceWhetherItLeavesAtOnceOrLater) {
  for (const bool at_once : {true, false}) {
    Loops l(1, Balance::kKernel);
    FakePart& part = l.part(0);
    part.close_at_once = at_once;
    for (int i = 0; i < 5; ++i) part.table.add(std::make_unique<FakeConnection>(part, UniqueFd()));
    int visits = 0;
    part.table.for_each([&](FakeConnection& c) {
      ++visits;
      c.abort(CloseReason::kShutdown);
    });
    EXPECT_EQ(visits, 5) << "at once: " << at_once;
    EXPECT_EQ(part.table.size(), at_once ? 0u : 5u);
  }
}

TEST(LoopBookkeepingTest, KernelBalanceAdoptsOnTheAcceptingLoop) {
  Loops l(2, Balance::kKernel);
  l.accept(1);
  l.accept(1);
  EXPECT_EQ(l.part(1).table.size(), 2u);
  EXPECT_EQ(l.part(1).stats.connections_accepted.get(), 2u);
  EXPECT_EQ(l.part(1).stats.connections_open.get(), 2u);
  EXPECT_EQ(l.part(0).table.size(), 0u);
  EXPECT_EQ(l.run_all_tasks(), 0u);  // nothing was handed over
  EXPECT_EQ(l.group.open_connections(), 2u);
}

TEST(LoopBookkeepingTest, MaxConnectionsRefusesPastTheLimitUntilOneCloses) {
  Loops l(2, Balance::kKernel, /*max_connections=*/2);
  l.accept(0);
  l.accept(1);
  UniqueFd refused = some_socket();
  const int refused_fd = refused.get();
  l.part(1).book.on_accepted(std::move(refused), SocketAddress{});
  EXPECT_EQ(::fcntl(refused_fd, F_GETFD), -1) << "the refused socket is closed at once";
  EXPECT_EQ(l.part(1).table.size(), 1u);
  EXPECT_EQ(l.part(1).stats.connections_accepted.get(), 2u);  // a refusal counts as accepted
  EXPECT_EQ(l.part(1).stats.closed_for(CloseReason::kMaxConnections), 1u);
  EXPECT_EQ(l.group.open_connections(), 2u);

  l.part(0).table.for_each([](FakeConnection& c) { c.abort(CloseReason::kPeerClosed); });
  EXPECT_EQ(l.group.open_connections(), 1u);
  l.accept(0);
  EXPECT_EQ(l.part(0).table.size(), 1u);
  EXPECT_EQ(l.part(0).stats.closed_for(CloseReason::kMaxConnections), 0u);
}

TEST(LoopBookkeepingTest, ExactBalanceCountsHandOffsStillInFlight) {
  Loops l(3, Balance::kExact);
  // A burst: loop 0 accepts six before any other loop runs its adoption tasks.
  for (int i = 0; i < 6; ++i) l.accept(0);
  EXPECT_EQ(l.part(0).table.size(), 2u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(l.part(i).book.load(), 2u) << "loop " << i;
  EXPECT_EQ(l.part(1).table.size(), 0u);  // in flight: counted, not adopted yet
  l.run_all_tasks();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(l.part(i).table.size(), 2u) << "loop " << i;
    EXPECT_EQ(l.part(i).stats.connections_accepted.get(), 2u) << "loop " << i;
    EXPECT_EQ(l.part(i).book.load(), 2u) << "loop " << i;
  }
  EXPECT_EQ(l.group.open_connections(), 6u);
}

TEST(LoopBookkeepingTest, ExactBalanceRefusesPastTheLimitCountingHandOffsInFlight) {
  Loops l(2, Balance::kExact, /*max_connections=*/3);
  for (int i = 0; i < 5; ++i) l.accept(0);
  l.run_all_tasks();
  EXPECT_EQ(l.part(0).table.size() + l.part(1).table.size(), 3u);
  EXPECT_EQ(l.part(0).stats.closed_for(CloseReason::kMaxConnections), 2u);
}

TEST(LoopBookkeepingTest, DrainStopsListeningAndFinishesWhenTheLastConnectionCloses) {
  Loops l(2, Balance::kKernel);
  for (std::size_t i = 0; i < 2; ++i) l.part(i).close_at_once = false;
  l.accept(0);
  l.accept(0);
  int done = 0;
  l.group.drain(seconds(7), [&] { ++done; });
  l.run_all_tasks();
  EXPECT_FALSE(l.part(0).listening);
  EXPECT_FALSE(l.part(1).listening);
  EXPECT_EQ(l.loops[0].timer_delay, seconds(7));
  l.part(0).table.for_each([](FakeConnection& c) { EXPECT_EQ(c.drains, 1); });
  EXPECT_EQ(done, 0);  // loop 1, empty, is drained; loop 0 is not
  EXPECT_FALSE(l.loops[1].timer_armed());

  l.part(0).run_close_callbacks();
  EXPECT_EQ(done, 1);
  EXPECT_FALSE(l.loops[0].timer_armed()) << "the cut-off is cancelled";
  EXPECT_EQ(l.part(0).stats.closed_for(CloseReason::kDrained), 2u);
}

TEST(LoopBookkeepingTest, DrainOfConnectionsThatCloseAtOnceFinishesAtOnce) {
  Loops l(1, Balance::kKernel);
  l.accept(0);
  int done = 0;
  l.group.drain(seconds(1), [&] { ++done; });
  l.run_all_tasks();
  EXPECT_EQ(done, 1);
  EXPECT_FALSE(l.loops[0].timer_armed());
}

TEST(LoopBookkeepingTest, AHandOffInFlightWhenTheDrainBeginsIsAdoptedThenDrained) {
  Loops l(2, Balance::kExact);
  for (std::size_t i = 0; i < 2; ++i) l.part(i).close_at_once = false;
  l.accept(0);  // adopted on loop 0
  l.accept(0);  // handed to loop 1, its adoption not run yet
  ASSERT_EQ(l.part(1).book.load(), 1u);
  int done = 0;
  l.group.drain(seconds(1), [&] { ++done; });
  l.run_all_tasks();
  ASSERT_EQ(l.part(1).table.size(), 1u);
  l.part(1).table.for_each([](FakeConnection& c) { EXPECT_EQ(c.drains, 1); });
  l.part(0).run_close_callbacks();
  EXPECT_EQ(done, 0) << "loop 1 still has the connection handed over";
  l.part(1).run_close_callbacks();
  EXPECT_EQ(done, 1);
}

TEST(LoopBookkeepingTest, WithExactBalanceTheOtherLoopsDrainAfterTheListeningLoopStops) {
  Loops l(2, Balance::kExact);
  l.part(1).close_at_once = false;
  l.accept(0);
  l.accept(0);  // in flight to loop 1
  l.group.drain(seconds(1), [] {});
  EXPECT_EQ(l.loops[1].run_tasks(), 1u);  // the adoption only: loop 0 has not stopped yet
  EXPECT_TRUE(l.part(1).listening);
  l.part(1).table.for_each([](FakeConnection& c) { EXPECT_EQ(c.drains, 0); });
  l.run_all_tasks();
  EXPECT_FALSE(l.part(0).listening);
  EXPECT_FALSE(l.part(1).listening);
  l.part(1).table.for_each([](FakeConnection& c) { EXPECT_EQ(c.drains, 1); });
}

TEST(LoopBookkeepingTest, AConnectionAdoptedAfterTheDrainBeganIsDrainedAtOnce) {
  Loops l(1, Balance::kKernel);
  l.part(0).close_at_once = false;
  l.accept(0);
  int done = 0;
  l.group.drain(seconds(1), [&] { ++done; });
  l.run_all_tasks();
  l.accept(0);  // a listener that delivered one more after the drain began
  ASSERT_EQ(l.part(0).table.size(), 2u);
  l.part(0).table.for_each([](FakeConnection& c) { EXPECT_EQ(c.drains, 1); });
  l.part(0).run_close_callbacks();
  EXPECT_EQ(done, 1);
}

TEST(LoopBookkeepingTest, CutOffAbortsTheBusyConnectionsAtTheDrainTimeout) {
  for (const bool at_once : {true, false}) {
    Loops l(1, Balance::kKernel);
    FakePart& part = l.part(0);
    for (int i = 0; i < 3; ++i) l.accept(0);
    part.close_at_once = false;  // busy: the drain does not close them
    int done = 0;
    l.group.drain(seconds(1), [&] { ++done; });
    l.run_all_tasks();
    part.table.for_each([](FakeConnection& c) { c.closing = false; });  // still busy
    part.close_at_once = at_once;
    ASSERT_TRUE(l.loops[0].timer_armed());
    l.loops[0].fire_timer();
    part.run_close_callbacks();
    EXPECT_EQ(part.stats.closed_for(CloseReason::kDrainTimeout), 3u) << "at once: " << at_once;
    EXPECT_EQ(done, 1) << "at once: " << at_once;
  }
}

// The same bookkeeping on real EventLoops and threads: a burst accepted on loop 0 is spread evenly
// over the loops while the others adopt concurrently, and the drain completes across threads.
class RealPart final : public ConnectionHost {
 public:
  struct Conn {
    RealPart& part;
    UniqueFd socket;
    std::size_t index_in_owner = 0;
    void begin_drain() { abort(CloseReason::kDrained); }
    void abort(CloseReason reason) {
      RealPart& owner = part;
      owner.stats.count_close(reason);
      owner.stats.connections_open.sub();
      owner.table.remove(*this);  // destroys this
      owner.book.on_closed();
    }
  };

  RealPart(LoopGroup& group, EventLoop& loop)
      : adapter(loop), book(group, adapter, stats, table, *this) {
    group.add(book);
  }
  void open_connection(UniqueFd socket, const SocketAddress&) override {
    table.add(std::make_unique<Conn>(Conn{*this, std::move(socket)}));
  }
  void stop_listening() override {}

  EventLoopAdapter adapter;
  LoopStats stats;
  ConnectionTable<Conn> table;
  LoopBookkeeping book;
};

TEST(LoopBookkeepingTest, ExactBalanceSpreadsABurstEvenlyAcrossRealLoopThreads) {
  constexpr std::size_t kLoops = 4;
  constexpr std::size_t kBurst = 400;
  ReactorOptions options;
  options.loops = kLoops;
  Reactor reactor(options);
  LoopGroup group(0, Balance::kExact);
  std::vector<std::unique_ptr<RealPart>> parts;
  for (std::size_t i = 0; i < kLoops; ++i) {
    parts.push_back(std::make_unique<RealPart>(group, reactor.loop(i)));
  }
  reactor.start();
  reactor.loop(0).post([&] {
    for (std::size_t i = 0; i < kBurst; ++i) parts[0]->book.on_accepted(some_socket(), {});
  });
  auto open = [&](std::size_t i) { return parts[i]->stats.connections_open.get(); };
  ASSERT_TRUE(test::wait_until([&] {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < kLoops; ++i) total += open(i);
    return total == kBurst;
  }));
  for (std::size_t i = 0; i < kLoops; ++i) {
    EXPECT_GE(open(i), kBurst / kLoops - 1) << "loop " << i;
    EXPECT_LE(open(i), kBurst / kLoops + 1) << "loop " << i;
  }
  std::atomic<bool> done{false};
  group.drain(seconds(10), [&] { done = true; });
  EXPECT_TRUE(test::wait_until([&] { return done.load(); }));
  EXPECT_EQ(group.open_connections(), 0u);
  reactor.stop();
  reactor.join();
}

}  // namespace
}  // namespace ringwire
