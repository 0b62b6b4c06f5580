// .hgrm output (HdrHistogram's percentile distribution text): read back with a parser written
// from the format HdrHistogram documents and prints (outputPercentileDistribution), and checked
// line by line against a case worked by hand.

#include "hgrm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace ringwire::load {
namespace {

struct HgrmLine {
  double value = 0;
  double percentile = 0;
  std::uint64_t total_count = 0;
  double inverse = 0;  // 1/(1-Percentile); absent (0) on the 100% line
};

struct Hgrm {
  std::vector<HgrmLine> lines;
  double mean = 0, std_deviation = 0, max = 0;
  std::uint64_t total_count = 0, buckets = 0, sub_buckets = 0;
};

// The format: a header line, a blank line, one line per percentile tick ("%12.3f %2.12f %10d
// %14.2f"; the last, at percentile 1, without the fourth column), then three "#[...]" lines.
// Fails the test on any line that does not fit.
Hgrm parse_hgrm(const std::string& text) {
  Hgrm h;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "       Value     Percentile TotalCount 1/(1-Percentile)");
  std::getline(in, line);
  EXPECT_EQ(line, "");
  const std::regex tick(R"( *(\d+\.\d{3}) (\d\.\d{12}) +(\d+) +(\d+\.\d{2}|inf))");
  const std::regex last(R"( *(\d+\.\d{3}) (1\.000000000000) +(\d+))");
  const std::regex mean(R"(#\[Mean    = +(\d+\.\d{3}), StdDeviation   = +(\d+\.\d{3})\])");
  const std::regex max(R"(#\[Max     = +(\d+\.\d{3}), Total count    = +(\d+)\])");
  const std::regex buckets(R"(#\[Buckets = +(\d+), SubBuckets     = +(\d+)\])");
  int footer = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (footer == 0 && std::regex_match(line, m, tick)) {
      EXPECT_EQ(line.size(), 12u + 1 + 14 + 1 + 10 + 1 + 14) << line;  // the columns' widths
      h.lines.push_back({std::stod(m[1]), std::stod(m[2]), std::stoull(m[3]), std::stod(m[4])});
    } else if (footer == 0 && std::regex_match(line, m, last)) {
      h.lines.push_back({std::stod(m[1]), std::stod(m[2]), std::stoull(m[3]), 0});
    } else if (footer == 0 && std::regex_match(line, m, mean)) {
      h.mean = std::stod(m[1]);
      h.std_deviation = std::stod(m[2]);
      footer = 1;
    } else if (footer == 1 && std::regex_match(line, m, max)) {
      h.max = std::stod(m[1]);
      h.total_count = std::stoull(m[2]);
      footer = 2;
    } else if (footer == 2 && std::regex_match(line, m, buckets)) {
      h.buckets = std::stoull(m[1]);
      h.sub_buckets = std::stoull(m[2]);
      footer = 3;
    } else {
      ADD_FAILURE() << "unexpected line: '" << line << "'";
    }
  }
  EXPECT_EQ(footer, 3) << "the three #[...] lines, in order";
  return h;
}

TEST(Hgrm, FourValuesGiveTheTicksWorkedByHand) {
  Histogram h;
  for (std::uint64_t ns : {1000u, 2000u, 3000u, 4000u}) h.record(ns);
  // 1000 and 2000 ns are exact buckets; 3000 and 4000 lie in buckets 2 ns wide (3000-3001,
  // 4000-4001), printed at their highest value. Ticks: 0, 10, ..., 50, then 55, ..., 75, 77.5.
  const std::string expected =
      "       Value     Percentile TotalCount 1/(1-Percentile)\n"
      "\n"
      "       1.000 0.000000000000          1           1.00\n"
      "       1.000 0.100000000000          1           1.11\n"
      "       1.000 0.200000000000          1           1.25\n"
      "       2.000 0.300000000000          2           1.43\n"
      "       2.000 0.400000000000          2           1.67\n"
      "       2.000 0.500000000000          2           2.00\n"
      "       3.001 0.550000000000          3           2.22\n"
      "       3.001 0.600000000000          3           2.50\n"
      "       3.001 0.650000000000          3           2.86\n"
      "       3.001 0.700000000000          3           3.33\n"
      "       3.001 0.750000000000          3           4.00\n"
      "       4.001 0.775000000000          4           4.44\n"
      "       4.001 1.000000000000          4\n";
  const std::string text = format_hgrm(h);
  ASSERT_EQ(text.substr(0, expected.size()), expected);
  const Hgrm parsed = parse_hgrm(text);
  EXPECT_EQ(parsed.total_count, 4u);
  EXPECT_DOUBLE_EQ(parsed.max, 4.001);
  EXPECT_NEAR(parsed.mean, 2.5005, 0.0006);  // bucket middles: 1000, 2000, 3001, 4001
  EXPECT_EQ(parsed.buckets, 32u);
  EXPECT_EQ(parsed.sub_buckets, 2048u);
}

TEST(Hgrm, WideDistributionRoundTrips) {
  Histogram h;
  // 1 µs to ~1 s, denser at the low end, plus a tail.
  std::uint64_t value = 1000;
  for (int i = 0; i < 20000; ++i) {
    h.record(value);
    value = 1000 + (value * 7919 + 13) % 2'000'000;
  }
  for (std::uint64_t ns = 10'000'000; ns < 1'000'000'000; ns *= 3) h.record(ns);
  const Hgrm parsed = parse_hgrm(format_hgrm(h));
  ASSERT_GT(parsed.lines.size(), 50u);
  EXPECT_EQ(parsed.total_count, h.count());
  EXPECT_DOUBLE_EQ(parsed.max, static_cast<double>(Histogram::highest_equivalent(h.max())) / 1e3);
  EXPECT_NEAR(parsed.mean, h.mean() / 1000.0, h.mean() / 1000.0 * 1e-3);
  EXPECT_GT(parsed.std_deviation, 0);

  EXPECT_EQ(parsed.lines.front().percentile, 0.0);
  EXPECT_EQ(parsed.lines.back().percentile, 1.0);
  EXPECT_EQ(parsed.lines.back().total_count, h.count());
  for (std::size_t i = 0; i < parsed.lines.size(); ++i) {
    const HgrmLine& l = parsed.lines[i];
    if (i > 0) {
      EXPECT_GE(l.value, parsed.lines[i - 1].value) << i;
      EXPECT_GE(l.percentile, parsed.lines[i - 1].percentile) << i;
      EXPECT_GE(l.total_count, parsed.lines[i - 1].total_count) << i;
    }
    // TotalCount is every value up to the line's value, and at least the line's share.
    const auto ns = static_cast<std::uint64_t>(std::llround(l.value * 1000.0));
    EXPECT_EQ(l.total_count, h.count_at_or_below(ns)) << i;
    EXPECT_GE(static_cast<double>(l.total_count) / static_cast<double>(h.count()),
              l.percentile - 1e-12)
        << i;
    if (l.percentile < 1.0) {
      EXPECT_NEAR(l.inverse, 1.0 / (1.0 - l.percentile), 0.006) << i;
    }
    // And the value is the histogram's own percentile at that tick (bucket resolution); past
    // 99.9% the printed tick is rounded to 12 decimals, so the check stops there.
    if (l.percentile > 0 && l.percentile < 0.999) {
      EXPECT_EQ(ns, Histogram::highest_equivalent(h.value_at_percentile(l.percentile * 100))) << i;
    }
  }
}

TEST(Hgrm, EmptyHistogramHasHeaderAndFooterOnly) {
  const Hgrm parsed = parse_hgrm(format_hgrm(Histogram{}));
  EXPECT_TRUE(parsed.lines.empty());
  EXPECT_EQ(parsed.total_count, 0u);
  EXPECT_EQ(parsed.max, 0.0);
}

TEST(Hgrm, NonemptyBucketsCoverEveryCount) {
  Histogram h;
  for (std::uint64_t v : {5ull, 5ull, 2047ull, 2048ull, 2049ull, 123456ull, 99'000'000ull}) {
    h.record(v);
  }
  const auto buckets = nonempty_buckets(h);
  ASSERT_EQ(buckets.size(), 5u);  // 2048 and 2049 share a bucket 2 wide
  std::uint64_t total = 0;
  for (const auto& b : buckets) {
    EXPECT_EQ(b.lowest, Histogram::lowest_equivalent(b.highest));
    EXPECT_EQ(b.highest, Histogram::highest_equivalent(b.lowest));
    total += b.count;
  }
  EXPECT_EQ(total, h.count());
  EXPECT_EQ(buckets[0].count, 2u);
  EXPECT_EQ(buckets[2].lowest, 2048u);
  EXPECT_EQ(buckets[2].count, 2u);
}

}  // namespace
}  // namespace ringwire::load
