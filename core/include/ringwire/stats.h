#pragma once
// Counters and histograms of one loop, and the tables that name them. A LoopStats is written only
// by its loop's thread (a plain load and store, no locked instruction) and read by any thread
// (metrics, tests, the exit line) through a StatsSnapshot. Everything that reports counters walks
// kCounters (histograms: kHistograms), so a new one is a LoopStats field plus one row there.

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "ringwire/bucket_histogram.h"

namespace ringwire {

class Counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  void set(std::uint64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Why a connection was closed. Every close has exactly one reason, and each is counted.
enum class CloseReason : std::uint8_t {
  kPeerClosed,      // the peer finished (EOF) and every reply owed was sent
  kPeerReset,       // the peer reset the connection or the socket failed
  kProtocolError,   // a frame broke the protocol (oversized length, bad request)
  kIdleTimeout,     // no frame completed within --idle-timeout
  kDrained,         // graceful drain: closed once quiet
  kDrainTimeout,    // graceful drain: still busy when --drain-timeout passed (cut off)
  kMaxConnections,  // accepted past --max-connections and closed at once
  kOutOfMemory,     // no ring buffer could be mapped for it
  kShutdown,        // the server stopped without draining
  kServiceError,    // the service threw on a frame
};
inline constexpr std::size_t kCloseReasonCount =
    static_cast<std::size_t>(CloseReason::kServiceError) + 1;
std::string_view to_string(CloseReason reason);  // the metric label: "drain_timeout"
std::string_view summary(CloseReason reason);    // the exit line's words: "cut off by the ..."

// 16 B .. 16 MiB (the largest --max-frame by default), by 4x.
inline constexpr HistogramLayout kFrameSizeLayout{4, 11};
// 1.024 us .. 1.07 s, by 4x, in nanoseconds.
inline constexpr HistogramLayout kLoopTurnLayout{10, 11};

struct LoopStats {
  Counter connections_accepted;
  Counter connections_open;
  std::array<Counter, kCloseReasonCount> closed;  // indexed by CloseReason
  Counter frames_received;
  Counter bytes_received;
  Counter bytes_sent;
  Counter frames_oversized;        // a length over max-frame (also a kProtocolError close)
  Counter trailing_bytes_dropped;  // bytes of an incomplete last frame at EOF or close
  Counter backpressure_pauses;     // times reading stopped because unsent output was too high
  Counter accept_errors;           // failed accepts (EMFILE, ENFILE, ENOBUFS...)
  Counter accept_pauses;           // times accepting was paused for lack of descriptors
  Counter connections_shed;        // accepted and closed at once for lack of descriptors
  Counter ring_bytes_lent;         // gauge: ring capacity held by connections now
  Counter frames_passed_through;   // large echoed frames moved with splice(2), not through a ring
  Counter pass_through_spills;     // of those, moved back to a ring (their pipe ran out of slots)
  Counter uring_cq_overflows;      // io_uring: waits that found the completion queue overflowed
  BucketHistogram frame_sizes{kFrameSizeLayout};  // payload bytes of each complete frame
  BucketHistogram loop_turns{kLoopTurnLayout};    // nanoseconds from a wait's return to the next

  void count_close(CloseReason reason) { closed[static_cast<std::size_t>(reason)].add(); }
  std::uint64_t closed_for(CloseReason reason) const {
    return closed[static_cast<std::size_t>(reason)].get();
  }
};

// How a counter is exposed: a total that only grows, or a level that goes up and down.
enum class MetricType : std::uint8_t { kCounter, kGauge };
std::string_view to_string(MetricType type);  // Prometheus's words: "counter", "gauge"

// One row per Counter field of LoopStats (the closes, an array, are the labelled metric below).
// Metric names are an interface that scripts scrape: add names, never rename one. (0.1 renamed
// four to Prometheus's naming, the unit last before _total: see README's metrics section.)
struct CounterInfo {
  Counter LoopStats::*field;
  std::string_view metric;  // Prometheus name
  MetricType type;
  std::string_view help;     // Prometheus HELP text
  std::string_view summary;  // the exit line's words after the value: "{value} {summary}"
};

inline constexpr CounterInfo kCounters[] = {
    {&LoopStats::connections_accepted, "ringwire_connections_accepted_total", MetricType::kCounter,
     "Connections accepted", "connection(s) accepted"},
    {&LoopStats::connections_open, "ringwire_connections_open", MetricType::kGauge,
     "Connections open now", "connection(s) still open"},
    {&LoopStats::frames_received, "ringwire_frames_received_total", MetricType::kCounter,
     "Complete frames received", "frame(s) received"},
    {&LoopStats::bytes_received, "ringwire_received_bytes_total", MetricType::kCounter,
     "Bytes received", "byte(s) in"},
    {&LoopStats::bytes_sent, "ringwire_sent_bytes_total", MetricType::kCounter, "Bytes sent",
     "byte(s) out"},
    {&LoopStats::frames_oversized, "ringwire_frames_oversized_total", MetricType::kCounter,
     "Frames whose length exceeded --max-frame", "oversized frame(s)"},
    {&LoopStats::trailing_bytes_dropped, "ringwire_dropped_trailing_bytes_total",
     MetricType::kCounter, "Bytes of incomplete frames dropped at close",
     "trailing byte(s) dropped"},
    {&LoopStats::backpressure_pauses, "ringwire_backpressure_pauses_total", MetricType::kCounter,
     "Times reading paused for unsent output", "backpressure pause(s)"},
    {&LoopStats::accept_errors, "ringwire_accept_errors_total", MetricType::kCounter,
     "Failed accepts (EMFILE, ENFILE, ...)", "failed accept(s)"},
    {&LoopStats::accept_pauses, "ringwire_accept_pauses_total", MetricType::kCounter,
     "Times accepting paused for lack of descriptors", "accept pause(s)"},
    {&LoopStats::connections_shed, "ringwire_connections_shed_total", MetricType::kCounter,
     "Connections accepted and closed at once for lack of descriptors",
     "shed for lack of descriptors"},
    {&LoopStats::ring_bytes_lent, "ringwire_ring_lent_bytes", MetricType::kGauge,
     "Ring buffer bytes held by connections now", "ring byte(s) still lent"},
    {&LoopStats::frames_passed_through, "ringwire_frames_passed_through_total",
     MetricType::kCounter, "Large echoed frames moved with splice(2)", "frame(s) passed through"},
    {&LoopStats::pass_through_spills, "ringwire_pass_through_spills_total", MetricType::kCounter,
     "Passed-through frames moved back to a ring buffer", "pass-through spill(s)"},
    {&LoopStats::uring_cq_overflows, "ringwire_uring_cq_overflows_total", MetricType::kCounter,
     "io_uring waits that found the completion queue overflowed (flushed, nothing lost)",
     "io_uring completion queue overflow(s)"},
};
inline constexpr std::size_t kCounterCount = std::size(kCounters);

// LoopStats::closed, exposed as one counter labelled reason="to_string(reason)".
inline constexpr std::string_view kClosedMetric = "ringwire_connections_closed_total";
inline constexpr std::string_view kClosedHelp = "Connections closed, by reason";

// One row per BucketHistogram field of LoopStats: a Prometheus histogram, per loop.
struct HistogramInfo {
  BucketHistogram LoopStats::*field;
  HistogramLayout layout;   // the field's (checked in stats.cc)
  std::string_view metric;  // Prometheus base name (_bucket, _sum, _count are added)
  std::string_view help;
  double per_unit;  // recorded values per unit of the metric (1e9: nanoseconds in a second)
};

inline constexpr HistogramInfo kHistograms[] = {
    {&LoopStats::frame_sizes, kFrameSizeLayout, "ringwire_frame_size_bytes",
     "Payload size of the complete frames received", 1.0},
    {&LoopStats::loop_turns, kLoopTurnLayout, "ringwire_loop_turn_seconds",
     "Time a loop spent on one turn: from its wait's return (I/O ready) to its next wait", 1e9},
};
inline constexpr std::size_t kHistogramCount = std::size(kHistograms);

// The row of `field` in kCounters. O(rows); constant-folded where `field` is a constant.
constexpr std::size_t counter_index(Counter LoopStats::*field) {
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    if (kCounters[i].field == field) return i;
  }
  return kCounterCount;  // unreachable: every Counter field has a row (checked in stats.cc)
}

// StatsSnapshot: the counters of one loop, or the sum over several, as plain numbers. Each counter
// is read on its own (relaxed), so a snapshot of a running loop is not one instant across counters.
struct HistogramSnapshot {
  std::array<std::uint64_t, BucketHistogram::kMaxBuckets + 1>
      counts{};  // per bucket, not cumulative
  std::uint64_t sum = 0;
};

struct StatsSnapshot {
  std::array<std::uint64_t, kCounterCount> values{};            // in kCounters' order
  std::array<std::uint64_t, kCloseReasonCount> closed{};        // indexed by CloseReason
  std::array<HistogramSnapshot, kHistogramCount> histograms{};  // in kHistograms' order

  // snapshot[&LoopStats::bytes_sent]
  std::uint64_t operator[](Counter LoopStats::*field) const {
    return values.at(counter_index(field));
  }
  std::uint64_t closed_for(CloseReason reason) const {
    return closed[static_cast<std::size_t>(reason)];
  }
  void add(const LoopStats& loop);
};

}  // namespace ringwire
