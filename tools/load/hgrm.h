#pragma once
// HdrHistogram's percentile distribution text (.hgrm, as written by its
// outputPercentileDistribution and read by its plotters): a header, one line per percentile
// tick ("Value Percentile TotalCount 1/(1-Percentile)"), five ticks per halving of the distance
// to 100%, then the #[Mean ...], #[Max ...] and #[Buckets ...] footer. Pure formatting over a
// Histogram's public queries; any thread.
//
// Cost: O(non-empty buckets x counters): core's Histogram has no bucket iterator, so each
// non-empty bucket is found with two O(counters) queries (~60 µs); once per run, at its end.

#include <cstdint>
#include <string>
#include <vector>

#include "ringwire/histogram.h"

namespace ringwire::load {

// One non-empty bucket of a Histogram: the values it stands for, and how many it counted.
struct HistogramBucket {
  std::uint64_t lowest = 0;
  std::uint64_t highest = 0;
  std::uint64_t count = 0;
};
// Every non-empty bucket, in ascending order.
std::vector<HistogramBucket> nonempty_buckets(const Histogram& h);

// HdrHistogram's default ticks: five per halving of the distance to the 100th percentile.
inline constexpr int kHgrmTicksPerHalfDistance = 5;

// The .hgrm text of `h` (values recorded in nanoseconds), values printed divided by
// `unit_ratio` (1000: microseconds, as HdrHistogram's tools print nanosecond histograms).
std::string format_hgrm(const Histogram& h, double unit_ratio = 1000.0,
                        int ticks_per_half_distance = kHgrmTicksPerHalfDistance);

// Writes format_hgrm(h) to `path` ("-": standard output); throws std::runtime_error naming the
// file on failure.
void write_hgrm_file(const std::string& path, const Histogram& h);

}  // namespace ringwire::load
