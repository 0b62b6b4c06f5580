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

TEST(BucketHistogramTest, ARunRecordsWhatSingleRecordsWould) {
  const std::uint64_t values[] = {64,
                                  64,
                                  65,
                                  64,
                                  16,
                                  17,
                                  10,
                                  10,
                                  5000,
                                  64,
                                  1u << 30,
                                  1u << 24,
                                  (1u << 24) + 1,
                                  ~std::uint64_t{0},
                                  0,
                                  1,
                                  0};
  BucketHistogram single(HistogramLayout{4, 11});
  BucketHistogram batched(HistogramLayout{4, 11});
  {
    BucketHistogram::Run run(batched);
    for (const std::uint64_t value : values) {
      single.record(value);
      run.record(value);
    }
  }  // the run is written out here
  for (std::size_t bucket = 0; bucket <= single.buckets(); ++bucket) {
    EXPECT_EQ(batched.count_in(bucket), single.count_in(bucket)) << bucket;
  }
  EXPECT_EQ(batched.sum(), single.sum());
}

}  // namespace
}  // namespace ringwire
