#include "hgrm.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "json_report.h"

namespace ringwire::load {

namespace {

// HdrHistogram's next percentile tick after `level` (its PercentileIterator, step for step, in
// doubles, so the ticks are the ones its own tools print).
double next_level(double level, int ticks_per_half_distance) {
  const auto halvings = static_cast<long long>(std::log(100.0 / (100.0 - level)) / std::log(2.0));
  const auto ticks = static_cast<long long>(ticks_per_half_distance) *
                     static_cast<long long>(std::pow(2.0, static_cast<double>(halvings + 1)));
  return level + 100.0 / static_cast<double>(ticks);
}

// The middle of a bucket, as HdrHistogram's mean and standard deviation count each value.
double median_equivalent(const HistogramBucket& b) {
  return static_cast<double>(b.lowest + ((b.highest - b.lowest + 1) >> 1));
}

}  // namespace

std::vector<HistogramBucket> nonempty_buckets(const Histogram& h) {
  std::vector<HistogramBucket> buckets;
  const std::uint64_t total = h.count();
  std::uint64_t below = 0;  // values counted in the buckets found so far
  while (below < total) {
    // The value of rank below + 1: asking half a rank past `below` lands on it whatever the
    // rounding of value_at_percentile's rank arithmetic.
    const double percentile =
        100.0 * (static_cast<double>(below) + 0.5) / static_cast<double>(total);
    const std::uint64_t value = h.value_at_percentile(percentile);
    const std::uint64_t highest = Histogram::highest_equivalent(value);
    const std::uint64_t at_or_below = h.count_at_or_below(highest);
    if (at_or_below <= below) break;  // no progress: cannot happen, but never loop for ever
    buckets.push_back({Histogram::lowest_equivalent(value), highest, at_or_below - below});
    below = at_or_below;
  }
  return buckets;
}

std::string format_hgrm(const Histogram& h, double unit_ratio, int ticks_per_half_distance) {
  std::string out = fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile",
                                "TotalCount", "1/(1-Percentile)");
  const std::vector<HistogramBucket> buckets = nonempty_buckets(h);
  const std::uint64_t total = h.count();
  const auto scaled = [&](std::uint64_t value) { return static_cast<double>(value) / unit_ratio; };
  if (!buckets.empty()) {
    // One line per tick: the first bucket whose cumulative share reaches the tick's level.
    std::size_t i = 0;
    std::uint64_t cumulative = buckets[0].count;
    for (double level = 0.0;; level = next_level(level, ticks_per_half_distance)) {
      while (100.0 * static_cast<double>(cumulative) / static_cast<double>(total) < level &&
             i + 1 < buckets.size()) {
        cumulative += buckets[++i].count;
      }
      out += fmt::format("{:12.3f} {:2.12f} {:10d} {:14.2f}\n", scaled(buckets[i].highest),
                         level / 100.0, cumulative, 1.0 / (1.0 - level / 100.0));
      if (cumulative == total) break;
    }
    // And the 100th percentile, without the infinite 1/(1-Percentile).
    out += fmt::format("{:12.3f} {:2.12f} {:10d}\n", scaled(buckets.back().highest), 1.0, total);
  }
  double mean = 0, deviation = 0;
  if (total > 0) {
    for (const auto& b : buckets) mean += median_equivalent(b) * static_cast<double>(b.count);
    mean /= static_cast<double>(total);
    for (const auto& b : buckets) {
      const double d = median_equivalent(b) - mean;
      deviation += d * d * static_cast<double>(b.count);
    }
    deviation = std::sqrt(deviation / static_cast<double>(total));
  }
  const std::uint64_t max = total > 0 ? Histogram::highest_equivalent(h.max()) : 0;
  out += fmt::format("#[Mean    = {:12.3f}, StdDeviation   = {:12.3f}]\n", mean / unit_ratio,
                     deviation / unit_ratio);
  out += fmt::format("#[Max     = {:12.3f}, Total count    = {:12d}]\n", scaled(max), total);
  out += fmt::format("#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", Histogram::kBucketCount,
                     Histogram::kSubBucketCount);
  return out;
}

void write_hgrm_file(const std::string& path, const Histogram& h) {
  const std::string text = format_hgrm(h);
  if (path == kStdoutPath) {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout)) {
      throw std::runtime_error(std::string("cannot write standard output: ") +
                               std::strerror(errno));
    }
    return;
  }
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace ringwire::load
