#include "ringwire/stats.h"

namespace ringwire {

namespace {

struct CloseReasonWords {
  std::string_view label;
  std::string_view summary;
};

// One switch names each reason, so the compiler flags a reason left unnamed.
CloseReasonWords words_for(CloseReason reason) {
  switch (reason) {
    case CloseReason::kPeerClosed:
      return {"peer_closed", "closed by the peer"};
    case CloseReason::kPeerReset:
      return {"peer_reset", "reset by the peer"};
    case CloseReason::kProtocolError:
      return {"protocol_error", "closed for a protocol error"};
    case CloseReason::kIdleTimeout:
      return {"idle_timeout", "closed idle"};
    case CloseReason::kDrained:
      return {"drained", "drained"};
    case CloseReason::kDrainTimeout:
      return {"drain_timeout", "cut off by the drain timeout"};
    case CloseReason::kMaxConnections:
      return {"max_connections", "refused over --max-connections"};
    case CloseReason::kOutOfMemory:
      return {"out_of_memory", "closed for lack of a ring buffer"};
    case CloseReason::kShutdown:
      return {"shutdown", "closed at shutdown"};
    case CloseReason::kServiceError:
      return {"service_error", "closed because the service failed"};
  }
  return {"unknown", "closed for an unknown reason"};
}

}  // namespace

std::string_view to_string(CloseReason reason) { return words_for(reason).label; }
std::string_view summary(CloseReason reason) { return words_for(reason).summary; }

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
  for (std::size_t i = 0; i < kHistogramCount; ++i) {
    const BucketHistogram& histogram = loop.*kHistograms[i].field;
    for (std::size_t b = 0; b <= histogram.buckets(); ++b) {
      histograms[i].counts[b] += histogram.count_in(b);
    }
    histograms[i].sum += histogram.sum();
  }
}

namespace {

// Each row names its own field and its own metric, and says something in every column.
constexpr bool rows_are_well_formed() {
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    if (kCounters[i].metric.empty() || kCounters[i].help.empty() || kCounters[i].summary.empty()) {
      return false;
    }
    for (std::size_t j = i + 1; j < kCounterCount; ++j) {
      if (kCounters[i].field == kCounters[j].field) return false;
      if (kCounters[i].metric == kCounters[j].metric) return false;
    }
    if (kCounters[i].metric == kClosedMetric) return false;
  }
  return true;
}
static_assert(rows_are_well_formed(),
              "a row of kCounters is blank or shares a field or a metric name");

// LoopStats holds only Counters and histograms, so its size counts them: a field without a row
// fails here.
static_assert(sizeof(LoopStats) == (kCounterCount + kCloseReasonCount) * sizeof(Counter) +
                                       kHistogramCount * sizeof(BucketHistogram),
              "every field of LoopStats needs a row in kCounters or kHistograms (stats.h)");

// Each histogram row names a distinct field and metric, with the field's own layout.
constexpr bool histogram_rows_are_well_formed() {
  const LoopStats stats;
  for (std::size_t i = 0; i < kHistogramCount; ++i) {
    if ((stats.*kHistograms[i].field).layout() != kHistograms[i].layout) return false;
    if (kHistograms[i].layout.buckets > HistogramLayout::kMaxBuckets) return false;
    for (std::size_t j = i + 1; j < kHistogramCount; ++j) {
      if (kHistograms[i].field == kHistograms[j].field) return false;
      if (kHistograms[i].metric == kHistograms[j].metric) return false;
    }
  }
  return true;
}
static_assert(histogram_rows_are_well_formed(),
              "a row of kHistograms shares a field or a metric, or has another layout");

}  // namespace

}  // namespace ringwire
