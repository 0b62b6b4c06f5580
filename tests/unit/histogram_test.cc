#include "ringwire/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace ringwire {
namespace {

// The exact nearest-rank percentile of `values` (sorted copy), the definition the histogram
// approximates: the smallest v with at least p% of the values <= v.
std::uint64_t exact_percentile(std::vector<std::uint64_t> values, double p) {
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  rank = std::clamp<std::size_t>(rank, 1, values.size());
  return values[rank - 1];
}

// The histogram's answer must be the exact answer's bucket: within 1/1024 of it, never below.
void expect_within_resolution(std::uint64_t got, std::uint64_t exact) {
  EXPECT_GE(got, exact);
  EXPECT_EQ(Histogram::lowest_equivalent(got), Histogram::lowest_equivalent(exact))
      << "got " << got << " exact " << exact;
  EXPECT_LE(static_cast<double>(got - exact), static_cast<double>(exact) / 1024.0 + 0.5);
}

TEST(Histogram, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.value_at_percentile(99), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 0; v < Histogram::kSubBucketCount; ++v) h.record(v);
  for (std::uint64_t v = 0; v < Histogram::kSubBucketCount; ++v) {
    EXPECT_EQ(Histogram::lowest_equivalent(v), v);
    EXPECT_EQ(Histogram::highest_equivalent(v), v);
  }
  EXPECT_EQ(h.value_at_percentile(50), 1023u);  // rank 1024 of 0..2047
  EXPECT_EQ(h.value_at_percentile(100), 2047u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 1023.5);
}

TEST(Histogram, UniformMicrosecondsToSecondMatchesExactPercentiles) {
  // 1 µs .. 1 s in ns, evenly spaced: every percentile lands in the exact value's bucket.
  std::vector<std::uint64_t> values;
  Histogram h;
  for (std::uint64_t i = 1; i <= 100000; ++i) {
    const std::uint64_t v = i * 10007;  // 10 µs steps up to ~1 s, not aligned to buckets
    values.push_back(v);
    h.record(v);
  }
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    expect_within_resolution(h.value_at_percentile(p), exact_percentile(values, p));
  }
  EXPECT_EQ(h.max(), 100000u * 10007);
  EXPECT_EQ(h.min(), 10007u);
  EXPECT_DOUBLE_EQ(h.mean(), 10007.0 * 100001.0 / 2.0);  // the mean is exact
}

TEST(Histogram, AllEqualReportsThatValue) {
  Histogram h;
  const std::uint64_t v = 123456789;  // 123 ms
  for (int i = 0; i < 1000; ++i) h.record(v);
  for (double p : {0.0, 50.0, 99.0, 99.99, 100.0}) EXPECT_EQ(h.value_at_percentile(p), v);
  EXPECT_EQ(h.min(), v);
  EXPECT_EQ(h.max(), v);
  EXPECT_DOUBLE_EQ(h.mean(), static_cast<double>(v));
}

TEST(Histogram, BimodalSplitsAtTheRightRank) {
  // 99% fast (50 µs), 1% slow (200 ms): p99 is fast, p99.01 and up are slow.
  Histogram h;
  h.record_n(50000, 9900);
  h.record_n(200000000, 100);
  expect_within_resolution(h.value_at_percentile(50), 50000);
  expect_within_resolution(h.value_at_percentile(99), 50000);
  expect_within_resolution(h.value_at_percentile(99.01), 200000000);
  EXPECT_EQ(h.value_at_percentile(100), 200000000u);
  EXPECT_EQ(h.count_at_or_below(60000), 9900u);
}

TEST(Histogram, RandomDataWithinResolution) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 2.0);  // median ~60 µs, long tail
  std::vector<std::uint64_t> values;
  Histogram h;
  for (int i = 0; i < 50000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    expect_within_resolution(h.value_at_percentile(p), exact_percentile(values, p));
  }
}

TEST(Histogram, MergeIsExact) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> dist(0, 5'000'000'000);
  Histogram a, b, both;
  for (int i = 0; i < 20000; ++i) {
    const auto v = dist(rng);
    (i % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
  EXPECT_EQ(a.max(), both.max());
  EXPECT_DOUBLE_EQ(a.mean(), both.mean());
  for (double p = 0; p <= 100; p += 0.5) {
    EXPECT_EQ(a.value_at_percentile(p), both.value_at_percentile(p));
  }
  EXPECT_EQ(a.encode(), both.encode());
}

TEST(Histogram, EdgeValues) {
  Histogram h;
  h.record(0);
  h.record(Histogram::kHighestTrackable);
  h.record(UINT64_MAX);  // clamped to the highest trackable value, and counted as clamped
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), Histogram::kHighestTrackable);
  EXPECT_EQ(h.value_at_percentile(100), Histogram::kHighestTrackable);
  EXPECT_EQ(h.value_at_percentile(1), 0u);
  // One hour is inside the range, at full resolution.
  const std::uint64_t hour = 3'600'000'000'000;
  EXPECT_LE(Histogram::highest_equivalent(hour) - Histogram::lowest_equivalent(hour), hour / 1024);
  // Bucket boundaries: 2047 exact, 2048 and 2049 share a 2-wide bucket.
  EXPECT_EQ(Histogram::highest_equivalent(2047), 2047u);
  EXPECT_EQ(Histogram::lowest_equivalent(2049), 2048u);
  EXPECT_EQ(Histogram::highest_equivalent(2048), 2049u);
}

TEST(Histogram, EncodeDecodeRoundTrip) {
  Histogram h;
  for (std::uint64_t v = 1; v < 10'000'000'000; v = v * 3 + 1) h.record_n(v, v % 7 + 1);
  const std::string bytes = h.encode();
  EXPECT_LT(bytes.size(), 1000u);  // compact: a few bytes per non-empty counter
  auto back = Histogram::decode(std::as_bytes(std::span(bytes)));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->encode(), bytes);
  EXPECT_EQ(back->count(), h.count());
  EXPECT_DOUBLE_EQ(back->mean(), h.mean());
  auto from_text = Histogram::decode_base64(h.encode_base64());
  ASSERT_TRUE(from_text.has_value());
  EXPECT_EQ(from_text->value_at_percentile(99.9), h.value_at_percentile(99.9));

  Histogram empty;
  const std::string empty_bytes = empty.encode();
  auto empty_back = Histogram::decode(std::as_bytes(std::span(empty_bytes)));
  ASSERT_TRUE(empty_back.has_value());
  EXPECT_EQ(empty_back->count(), 0u);
}

TEST(Histogram, DecodeRejectsGarbage) {
  const std::string junk = "RWH1\x0b\x20\x05";
  EXPECT_FALSE(Histogram::decode(std::as_bytes(std::span(junk))).has_value());
  EXPECT_FALSE(Histogram::decode_base64("not base64!").has_value());
  Histogram h;
  h.record(5);
  std::string bytes = h.encode();
  bytes.back() = '\x02';  // the final zero run no longer reaches the end
  EXPECT_FALSE(Histogram::decode(std::as_bytes(std::span(bytes))).has_value());
}

}  // namespace
}  // namespace ringwire
