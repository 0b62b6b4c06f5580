#include "ringwire/stats.h"

namespace ringwire {

std::string_view to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::kPeerClosed:
      return "peer_closed";
    case CloseReason::kPeerReset:
      return "peer_reset";
    case CloseReason::kProtocolError:
      return "protocol_error";
    case CloseReason::kIdleTimeout:
      return "idle_timeout";
    case CloseReason::kDrained:
      return "drained";
    case CloseReason::kDrainTimeout:
      return "drain_timeout";
    case CloseReason::kMaxConnections:
      return "max_connections";
    case CloseReason::kOutOfMemory:
      return "out_of_memory";
    case CloseReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
  }
  return "untyped";
}

void StatsSnapshot::add(const LoopStats& loop) {
  for (std::size_t i = 0; i < kCounterCount; ++i) values[i] += (loop.*kCounters[i].field).get();
  for (std::size_t i = 0; i < kCloseReasonCount; ++i) closed[i] += loop.closed[i].get();
}

namespace {

// Each row names its own field and its own metric.
constexpr bool rows_are_distinct() {
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    for (std::size_t j = i + 1; j < kCounterCount; ++j) {
      if (kCounters[i].field == kCounters[j].field) return false;
      if (kCounters[i].metric == kCounters[j].metric) return false;
    }
    if (kCounters[i].metric == kClosedMetric) return false;
  }
  return true;
}
static_assert(rows_are_distinct(), "two rows of kCounters share a field or a metric name");

// LoopStats holds only Counters, so its size counts them: a field without a row fails here.
static_assert(sizeof(LoopStats) == (kCounterCount + kCloseReasonCount) * sizeof(Counter),
              "every Counter of LoopStats needs a row in kCounters (stats.h)");

}  // namespace

}  // namespace ringwire
