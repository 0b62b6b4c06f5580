// BucketHistogram: each value lands in the first bucket whose bound holds it; the rest in +Inf.

#include "ringwire/bucket_histogram.h"

#include <gtest/gtest.h>

namespace ringwire {
namespace {

TEST(BucketHistogramTest, ValuesLandInTheFirstBucketThatHoldsThem) {
  BucketHistogram histogram(HistogramLayout{4, 3});  // <= 16, <= 64, <= 256, +Inf
  ASSERT_EQ(histogram.buckets(), 3u);
  EXPECT_EQ(histogram.layout().upper_bound(0), 16u);
  EXPECT_EQ(histogram.layout().upper_bound(2), 256u);
  EXPECT_EQ(histogram.bucket_of(0), 0u);
  EXPECT_EQ(histogram.bucket_of(1), 0u);
  EXPECT_EQ(histogram.bucket_of(16), 0u);
  EXPECT_EQ(histogram.bucket_of(17), 1u);
  EXPECT_EQ(histogram.bucket_of(32), 1u);
  EXPECT_EQ(histogram.bucket_of(64), 1u);
  EXPECT_EQ(histogram.bucket_of(65), 2u);
  EXPECT_EQ(histogram.bucket_of(256), 2u);
  EXPECT_EQ(histogram.bucket_of(257), 3u);
  EXPECT_EQ(histogram.bucket_of(~std::uint64_t{0}), 3u);
}

TEST(BucketHistogramTest, RecordCountsAndSums) {
  BucketHistogram histogram(HistogramLayout{4, 3});
  for (const std::uint64_t value : {0u, 16u, 17u, 300u, 1000u}) histogram.record(value);
  if (!BucketHistogram::kEnabled) GTEST_SKIP() << "built with -DRINGWIRE_HISTOGRAMS=OFF";
  EXPECT_EQ(histogram.count_in(0), 2u);
  EXPECT_EQ(histogram.count_in(1), 1u);
  EXPECT_EQ(histogram.count_in(2), 0u);
  EXPECT_EQ(histogram.count_in(3), 2u);
  EXPECT_EQ(histogram.sum(), 1333u);
}

}  // namespace
}  // namespace ringwire
