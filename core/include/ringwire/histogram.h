#pragma once
// Histogram: an HDR-style log-linear histogram of non-negative integer values, used for latencies
// in NANOSECONDS. Owned by whoever records into it; not thread-safe (one histogram per thread,
// merged afterwards: percentiles are never averaged).
//
// Layout (fixed, so any two histograms merge exactly, on any host):
//   values 0 .. 2047 ns are counted exactly (1 ns buckets), so sub-microsecond values are kept;
//   above that, each power-of-two range [2^k, 2^(k+1)) is split into 1024 equal sub-buckets, so a
//   value is known to within 1/1024 of itself (better than 3 significant digits);
//   the highest trackable value is kHighestTrackable (a little over 1 hour); larger values are
//   counted in the top bucket and in clamped().
//
// Cost: record() is O(1) — a count-leading-zeros, a shift, four adds and two compares, no
// allocation. Memory: kCountsLength (33,792) 8-byte counters = 264 KiB per histogram, allocated
// once. merge(), reset() and a percentile query walk the counters: O(kCountsLength), ~30 µs.
// Serialised form (encode()): a few bytes per non-empty counter (run-length zeros, LEB128 counts).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ringwire {

class Histogram {
 public:
  // 2^11 = 2048 exact sub-buckets in the first range: 3 significant digits means distinguishing
  // 1000 from 1001, which needs at least 2 * 10^3 sub-buckets per doubling.
  static constexpr unsigned kSubBucketBits = 11;
  static constexpr std::uint64_t kSubBucketCount = std::uint64_t{1} << kSubBucketBits;
  static constexpr std::uint64_t kSubBucketHalfCount = kSubBucketCount / 2;
  // 1 h in ns is 3.6e12 < 2048 * 2^31: 32 ranges of doubling cover it.
  static constexpr unsigned kBucketCount = 32;
  static constexpr std::size_t kCountsLength = (kBucketCount + 1) * kSubBucketHalfCount;
  static constexpr std::uint64_t kHighestTrackable =
      (kSubBucketCount << (kBucketCount - 1)) - 1;  // 4,398,046,511,103 ns ≈ 73 min

  Histogram();

  void record(std::uint64_t value) { record_n(value, 1); }
  void record_n(std::uint64_t value, std::uint64_t n) {
    if (value > kHighestTrackable) {
      clamped_ += n;
      value = kHighestTrackable;
    }
    counts_[index_of(value)] += n;
    total_ += n;
    sum_ += static_cast<unsigned __int128>(value) * n;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  // Adds every count of `other` (exact: both share one layout).
  void merge(const Histogram& other);
  void reset();

  std::uint64_t count() const { return total_; }
  std::uint64_t clamped() const { return clamped_; }
  // Exact minimum and maximum recorded (after clamping); 0 when empty.
  std::uint64_t min() const { return total_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  // Exact arithmetic mean of the recorded values; 0 when empty.
  double mean() const;
  // The smallest value v such that at least `percentile`% of the recorded values are <= v, up to
  // the bucket's resolution (reported as the highest value equivalent to the bucket, as HDR does,
  // and never above max()). percentile in [0, 100]; 0 gives min(). 0 when empty.
  std::uint64_t value_at_percentile(double percentile) const;
  // How many recorded values are <= value (at bucket resolution).
  std::uint64_t count_at_or_below(std::uint64_t value) const;

  // The bucket that holds `value`: [lowest_equivalent, highest_equivalent].
  static std::uint64_t lowest_equivalent(std::uint64_t value);
  static std::uint64_t highest_equivalent(std::uint64_t value);

  // Compact, exact, portable serialisation: "RWH1", then LEB128 fields (layout, total, clamped,
  // min, max, sum), then the counters with zero runs collapsed. decode() returns nullopt for bytes
  // that are not a histogram of this layout.
  std::string encode() const;
  static std::optional<Histogram> decode(std::span<const std::byte> bytes);
  // The same bytes as base64 text (for JSON files).
  std::string encode_base64() const;
  static std::optional<Histogram> decode_base64(std::string_view text);

 private:
  static std::size_t index_of(std::uint64_t value) {
    // The range ("bucket") is how far the value's top bit lies above the exact first range.
    const unsigned bucket =
        static_cast<unsigned>(63 - __builtin_clzll(value | (kSubBucketCount - 1))) -
        (kSubBucketBits - 1);
    const std::uint64_t sub_bucket = value >> bucket;  // in [1024, 2048) when bucket > 0
    return (static_cast<std::size_t>(bucket) << (kSubBucketBits - 1)) +
           static_cast<std::size_t>(sub_bucket);
  }
  static std::uint64_t value_of_index(std::size_t index);
  static std::uint64_t bucket_size_of_index(std::size_t index);

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t clamped_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace ringwire
