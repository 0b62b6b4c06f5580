#pragma once
// BucketHistogram: a Prometheus histogram of non-negative integers with fixed bucket bounds that
// grow by 4x: bucket i counts values <= 2^(first_shift + 2i), the last bucket the rest (+Inf).
// Written only by its loop's thread, like Counter (a relaxed load and store, no locked
// instruction, no line shared with another loop); read by a scrape from any thread (relaxed: a
// scrape of a running loop may see the buckets and the sum a few values apart).
//
// Cost: record() is a count-leading-zeros, a shift, a clamp and two relaxed increments (about
// 5 ns on the shared test machine); a Run of values in one bucket about 1.3 ns a value
// (bench/bucket_histogram_bench.cc). Memory: kMaxBuckets + 2 8-byte counters (136 bytes).

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace ringwire {

// The bounds of a BucketHistogram: `buckets` finite ones, 2^first_shift, 2^(first_shift + 2), ...
struct HistogramLayout {
  static constexpr std::size_t kMaxBuckets = 15;  // finite buckets; one more counts +Inf

  unsigned first_shift;
  std::size_t buckets;

  constexpr std::uint64_t upper_bound(std::size_t bucket) const {
    return std::uint64_t{1} << (first_shift + 2 * bucket);
  }
  constexpr bool operator==(const HistogramLayout&) const = default;
};

class BucketHistogram {
 public:
  static constexpr std::size_t kMaxBuckets = HistogramLayout::kMaxBuckets;
  // False in a build configured with -DRINGWIRE_HISTOGRAMS=OFF (only to measure their cost):
  // record() does nothing, and nothing is timed for it.
#ifndef RINGWIRE_NO_HISTOGRAMS
  static constexpr bool kEnabled = true;
#else
  static constexpr bool kEnabled = false;
#endif

  explicit constexpr BucketHistogram(HistogramLayout layout)
      : first_shift_(layout.first_shift),
        buckets_(layout.buckets < kMaxBuckets ? layout.buckets : kMaxBuckets) {}

  void record(std::uint64_t value) {
    if constexpr (kEnabled) {
      bump(counts_[bucket_of(value)], 1);
      bump(sum_, value);
    }
  }

  // Records values that come in a row (one decode pass over a ring): a value costs a compare and
  // two register adds, and the histogram is written once per change of bucket and once at the end,
  // rather than twice per value (the echo path sees runs of same-sized frames). One scope at a
  // time.
  class Run {
   public:
    explicit Run(BucketHistogram& histogram) : histogram_(histogram) {}
    ~Run() {
      flush_bucket();
      if (sum_ != 0) bump(histogram_.sum_, sum_);
    }
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    void record(std::uint64_t value) {
      if constexpr (kEnabled) {
        if (value - low_ > span_) next_bucket(value);  // outside [low_, low_ + span_]
        ++count_;
        sum_ += value;
      }
    }

   private:
    void flush_bucket() {
      if (count_ != 0) bump(histogram_.counts_[bucket_], count_);
      count_ = 0;
    }
    void next_bucket(std::uint64_t value) {
      flush_bucket();
      bucket_ = histogram_.bucket_of(value);
      const HistogramLayout layout = histogram_.layout();
      low_ = bucket_ == 0 ? 0 : layout.upper_bound(bucket_ - 1) + 1;
      const std::uint64_t high =
          bucket_ < layout.buckets ? layout.upper_bound(bucket_) : ~std::uint64_t{0};
      span_ = high - low_;
    }

    BucketHistogram& histogram_;
    std::size_t bucket_ = 0;
    // The values bucket_ holds: [low_, low_ + span_]. At first only 1 (in bucket 0 in any layout).
    std::uint64_t low_ = 1;
    std::uint64_t span_ = 0;
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
  };

  constexpr HistogramLayout layout() const { return {first_shift_, buckets_}; }
  // Finite buckets (the +Inf one is index buckets()).
  std::size_t buckets() const { return buckets_; }
  std::size_t bucket_of(std::uint64_t value) const {
    // ceil(log2(value)): the smallest b with value <= 2^b (0 for 0 and 1).
    const unsigned bits = static_cast<unsigned>(std::bit_width(value - (value != 0)));
    if (bits <= first_shift_) return 0;
    const std::size_t bucket = (bits - first_shift_ + 1) / 2;
    return bucket < buckets_ ? bucket : buckets_;
  }
  std::uint64_t count_in(std::size_t bucket) const {
    return counts_[bucket].load(std::memory_order_relaxed);
  }
  std::uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  static void bump(std::atomic<std::uint64_t>& cell, std::uint64_t n) {
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  unsigned first_shift_;
  std::size_t buckets_;
  std::array<std::atomic<std::uint64_t>, kMaxBuckets + 1> counts_{};
  std::atomic<std::uint64_t> sum_{0};
};

}  // namespace ringwire
