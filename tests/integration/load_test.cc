// ringwire-load against in-test servers with known behaviour: the open-loop latency shows server
// stalls that the from-actual-send figure hides, the achieved rate matches the requested one,
// verification catches corrupted and reordered replies, and the preflight fails with one line.

#include "load.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "find_max.h"
#include "support/blocking_server.h"
#include "support/counting_echo_server.h"

namespace ringwire::load {
namespace {

using testing::BlockingServer;
using testing::BlockingServerOptions;
using testing::ServerFault;

constexpr std::uint64_t kMs = 1'000'000;  // ns

LoadOptions quiet_options(std::uint16_t port) {
  LoadOptions o;
  o.port = port;
  o.live = false;
  o.warmup_s = 0.2;
  return o;
}

std::uint64_t errors_of(const LoadResult& r, ErrorKind kind) {
  return r.totals.errors[static_cast<std::size_t>(kind)];
}

TEST(LoadOpenLoop, ScheduledLatencyShowsServerStallsActualSendDoesNot) {
  BlockingServerOptions server_options;
  server_options.fault = ServerFault::kStall;  // 200 ms of every second: not reading
  BlockingServer server(server_options);
  LoadOptions o = quiet_options(server.port());
  o.connections = 4;
  o.depth = 1;
  o.rate = 2000;
  o.duration_s = 3;
  const LoadResult r = run_load(o);

  EXPECT_EQ(r.totals.error_total(), 0u);
  EXPECT_GE(r.totals.latency.value_at_percentile(99), 100 * kMs)
      << "from scheduled send: the stalls must show";
  EXPECT_LT(r.totals.latency_from_send.value_at_percentile(99), 100 * kMs)
      << "from actual send: one frame per connection waits out a stall, the rest are sent late";
  EXPECT_GE(r.totals.send_lateness.value_at_percentile(99), 100 * kMs);
  EXPECT_EQ(r.fairness.stalled, 0u);  // 200 ms gaps are under the stall threshold
}

// A connection is stalled after a second without a reply, or in open loop after twice its own
// interval between frames when that is longer (100,000 connections at 30,000/s: 3.3 s each).
TEST(LoadOpenLoop, StallGapIsASecondOrTwiceEachConnectionsInterval) {
  LoadOptions o;
  o.connections = 100'000;
  EXPECT_EQ(stall_gap_ns(o), kStallGapNs);  // closed loop
  o.rate = 30'000;
  EXPECT_NEAR(static_cast<double>(stall_gap_ns(o)), 2 * 100'000 / 30'000.0 * 1e9, 1e3);
  o.connections = 16;
  EXPECT_EQ(stall_gap_ns(o), kStallGapNs);
}

TEST(LoadOpenLoop, AchievedRateWithinOnePercentOfRequested) {
  BlockingServer server;
  LoadOptions o = quiet_options(server.port());
  o.connections = 4;
  o.threads = 2;
  o.rate = 2000;
  o.duration_s = 4;
  const LoadResult r = run_load(o);
  EXPECT_EQ(r.totals.error_total(), 0u);
  EXPECT_NEAR(r.frames_per_s, o.rate, o.rate * 0.01);
  // The fixed schedule spreads frames evenly over connections.
  EXPECT_LE(r.fairness.max_frames - r.fairness.min_frames, 4u);
}

TEST(LoadVerify, CatchesACorruptedByte) {
  BlockingServerOptions server_options;
  server_options.fault = ServerFault::kCorruptByte;
  server_options.corrupt_every = 50;
  BlockingServer server(server_options);
  LoadOptions o = quiet_options(server.port());
  o.connections = 2;
  o.depth = 4;
  o.duration_s = 0.5;
  const LoadResult r = run_load(o);
  ASSERT_GT(r.totals.frames_completed, 200u);
  EXPECT_GT(errors_of(r, ErrorKind::kReplyContent), 0u);
  EXPECT_EQ(errors_of(r, ErrorKind::kReplySequence), 0u);
  EXPECT_EQ(errors_of(r, ErrorKind::kReplyLength), 0u);
}

TEST(LoadVerify, CatchesReorderedReplies) {
  BlockingServerOptions server_options;
  server_options.fault = ServerFault::kReorder;
  BlockingServer server(server_options);
  LoadOptions o = quiet_options(server.port());
  o.connections = 2;
  o.depth = 2;  // the server swaps each pair, so two must be in flight
  o.duration_s = 0.5;
  const LoadResult r = run_load(o);
  ASSERT_GT(r.totals.frames_completed, 100u);
  EXPECT_GT(errors_of(r, ErrorKind::kReplySequence), 0u);
  EXPECT_EQ(errors_of(r, ErrorKind::kReplyLength), 0u);
}

TEST(LoadVerify, CorrectServerHasNoErrorsEvenWithTinyFrames) {
  BlockingServer server;
  for (std::uint32_t size : {0u, 3u, 12u, 17u}) {
    LoadOptions o = quiet_options(server.port());
    o.connections = 2;
    o.depth = 3;
    o.size = size;
    o.duration_s = 0.3;
    o.warmup_s = 0;
    const LoadResult r = run_load(o);
    EXPECT_GT(r.totals.frames_completed, 0u) << "size " << size;
    EXPECT_EQ(r.totals.error_total(), 0u) << "size " << size;
  }
}

TEST(LoadPreflight, TooManyConnectionsFailFastWithOneLine) {
  LoadOptions o = quiet_options(1);  // nothing listens: the preflight must fail before connecting
  o.connections = 10'000'000;
  try {
    run_load(o);
    FAIL() << "expected a StartError";
  } catch (const StartError& e) {
    const std::string line = e.what();
    EXPECT_NE(line.find("open-file limit"), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

TEST(LoadConnect, RefusedConnectionsAreCountedByErrno) {
  LoadOptions o = quiet_options(1);  // port 1 on loopback: nothing listens
  o.connections = 3;
  o.duration_s = 0.1;
  o.warmup_s = 0;
  const LoadResult r = run_load(o);
  EXPECT_EQ(r.connections_established, 0u);
  EXPECT_EQ(errors_of(r, ErrorKind::kConnectFailed), 3u);
  EXPECT_EQ(r.totals.connect_errors.at(ECONNREFUSED), 3u);
}

// --churn: every completed connection is one the server accepted, and each carried exactly
// --churn-frames checked replies; with RST the slots reconnect as fast as with FIN.
TEST(LoadChurn, CountsConnectionsAndVerifiesEveryReply) {
  for (const bool rst : {false, true}) {
    testing::CountingEchoServer server;
    LoadOptions o = quiet_options(server.port());
    o.connections = 4;
    o.depth = 2;
    o.churn = true;
    o.churn_frames = 3;
    o.churn_rst = rst;
    o.warmup_s = 0;
    o.duration_s = 0.5;
    const LoadResult r = run_load(o);
    SCOPED_TRACE(rst ? "RST" : "FIN");
    EXPECT_EQ(r.totals.error_total(), 0u);
    ASSERT_GT(r.totals.churn_cycles, 20u);
    // Each completed connection was accepted, plus the run's first ones and those cut at the end.
    EXPECT_GE(server.accepted(), r.totals.churn_cycles);
    EXPECT_LE(server.accepted(), r.totals.churn_cycles + 2 * o.connections);
    // Every reply of the window was checked; a connection straddling an edge counts its frames in
    // the window but not itself.
    EXPECT_GE(r.totals.frames_completed, r.totals.churn_cycles * o.churn_frames);
    EXPECT_LE(r.totals.frames_completed,
              (r.totals.churn_cycles + 2 * o.connections) * o.churn_frames);
    // One first reply per connection whose first reply fell in the window: off by at most the
    // connections open at either edge.
    const auto first = static_cast<double>(r.totals.first_reply.count());
    EXPECT_NEAR(first, static_cast<double>(r.totals.churn_cycles),
                static_cast<double>(o.connections));
    EXPECT_NEAR(r.connections_per_s, static_cast<double>(r.totals.churn_cycles) / r.window_s, 1);
    EXPECT_GE(r.totals.connect_latency.count(), r.totals.churn_cycles);
  }
}

// --reconnect: a server that closes gracefully (as a drain does) loses the client nothing: the
// frames it left unanswered go again on a new connection, with their sequence numbers (so every
// reply is still checked in order), and no error is counted. Without it, each close is an error.
TEST(LoadReconnect, ResendsWhatADrainingServerLeftUnanswered) {
  BlockingServerOptions server_options;
  server_options.fault = ServerFault::kDrainAfter;
  server_options.drain_after = 40;
  BlockingServer server(server_options);
  LoadOptions o = quiet_options(server.port());
  o.connections = 4;
  o.depth = 4;
  o.warmup_s = 0;
  o.duration_s = 0.5;
  {
    const LoadResult r = run_load(o);
    EXPECT_EQ(errors_of(r, ErrorKind::kPeerClosed), o.connections);
  }
  o.reconnect = true;
  for (const double rate : {0.0, 4000.0}) {
    SCOPED_TRACE(rate == 0 ? "closed loop" : "open loop");
    o.rate = rate;
    const LoadResult r = run_load(o);
    EXPECT_EQ(r.totals.error_total(), 0u);
    ASSERT_GE(r.totals.reconnects, 4u);
    // Each connection ends after 40 replies: the run's replies came over that many connections.
    EXPECT_GE(r.totals.frames_completed, 40 * r.totals.reconnects);
    if (rate == 0) {
      // Closed loop: a reply is followed at once by the next frame, so --depth are always owed.
      EXPECT_EQ(r.totals.frames_resent, o.depth * r.totals.reconnects);
    } else {
      // Open loop: every frame of the schedule was answered, whichever connection carried it.
      const double scheduled = rate * r.window_s;
      EXPECT_NEAR(static_cast<double>(r.totals.frames_completed), scheduled, 0.05 * scheduled);
    }
  }
}

TEST(LoadChurn, CatchesACorruptedReply) {
  BlockingServerOptions server_options;
  server_options.fault = ServerFault::kCorruptByte;
  server_options.corrupt_every = 2;  // per connection: the second frame of each
  BlockingServer server(server_options);
  LoadOptions o = quiet_options(server.port());
  o.connections = 2;
  o.churn = true;
  o.churn_frames = 2;
  o.warmup_s = 0;
  o.duration_s = 0.3;
  const LoadResult r = run_load(o);
  ASSERT_GT(r.totals.churn_cycles, 5u);
  EXPECT_GE(errors_of(r, ErrorKind::kReplyContent), r.totals.churn_cycles);
}

// find-max on a server that holds every reply for 100 ms while it receives more than 4,000
// frames/s: the answer lies within 10% of 4,000. (The bound and the hold are far apart, so the
// scheduling noise of a busy test machine does not decide the answer.)
TEST(LoadFindMax, FindsTheRateWhereTheServerTurnsSlow) {
  constexpr double kKnee = 4000;
  testing::CountingEchoOptions server_options;
  server_options.slow_above_rate = kKnee;
  server_options.slow_delay = std::chrono::milliseconds(100);
  testing::CountingEchoServer server(server_options);
  FindMaxOptions o;
  o.run = quiet_options(server.port());
  o.run.connections = 4;
  o.run.depth = 256;
  o.run.rate = 1000;
  o.run.duration_s = 1.0;  // a 10 ms lag of a busy machine's client is 1% of the window
  o.run.warmup_s = 0.3;
  o.slo = parse_slo("p99=30ms");
  o.precision = 0.04;
  const FindMaxResult r = find_max(o, [](const FindMaxStep& step) {
    const LoadResult& run = step.result;
    std::printf("find-max step %.0f/s: achieved %.0f/s, p99 %.3f ms, lag p99 %.3f ms, %s%s %s\n",
                step.rate, run.frames_per_s,
                static_cast<double>(run.totals.latency.value_at_percentile(99)) / 1e6,
                static_cast<double>(run.totals.schedule_lag.value_at_percentile(99)) / 1e6,
                step.met ? "met" : "missed: ", step.why.c_str(),
                run.client_saturated ? "(client saturated)" : "");
  });
  ASSERT_GE(r.steps.size(), 4u);
  EXPECT_NEAR(r.max_rate, kKnee, kKnee * 0.10);
  EXPECT_GT(r.first_missed, r.max_rate);
  for (const auto& step : r.steps) {
    if (step.rate <= r.max_rate) continue;
    EXPECT_FALSE(step.met) << step.rate;  // nothing above the answer met the objective
  }
}

TEST(LoadFindMax, SloTextIsCheckedWithOneLine) {
  EXPECT_EQ(parse_slo("p99.9=500us").percentile, 99.9);
  EXPECT_EQ(parse_slo("p99.9=500us").bound_ns, 500'000u);
  EXPECT_EQ(parse_slo("p50=2ms").bound_ns, 2'000'000u);
  for (const char* bad : {"", "99=1ms", "p99", "p=1ms", "p101=1ms", "p99=fast", "p99=0ms"}) {
    EXPECT_THROW(parse_slo(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace ringwire::load
