// The interval log (--hist-log) read back by a parser written here from HdrHistogram's documented
// V2 formats — not by the writer's own code: base64 of [cookie 0x1c849304|0x10][length][zlib of
// [cookie 0x1c849303|0x10][payload length][normalizing offset][digits][lowest][highest][ratio]
// [counts: ZigZag LEB128-64b9B, negative = a run of zeros]]], and HdrHistogram's own index->value
// mapping derived from the header's digits and lowest value.

#include "hist_log.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "merge.h"

namespace ringwire::load {
namespace {

struct Parsed {
  std::uint32_t digits = 0;
  std::int64_t lowest = 0;
  std::int64_t highest = 0;
  double ratio = 0;
  std::map<std::uint64_t, std::uint64_t> counts;  // bucket's lowest value -> count
  std::uint64_t total = 0;
};

std::uint64_t be(const std::string& s, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | static_cast<unsigned char>(s.at(at + static_cast<std::size_t>(i)));
  return v;
}

std::string from_base64(const std::string& text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int bits = 0;
  unsigned acc = 0;
  for (char c : text) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<unsigned>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// HdrHistogram's parser, from its documentation (AbstractHistogram's encoding).
Parsed parse_hdr(const std::string& base64) {
  Parsed p;
  const std::string outer = from_base64(base64);
  EXPECT_EQ(be(outer, 0, 4), 0x1c849314u) << "compressed V2 cookie";
  const std::uint64_t zipped = be(outer, 4, 4);
  EXPECT_EQ(zipped, outer.size() - 8);
  std::string inner(1 << 22, '\0');
  uLongf length = static_cast<uLongf>(inner.size());
  EXPECT_EQ(
      uncompress(reinterpret_cast<Bytef*>(inner.data()), &length,
                 reinterpret_cast<const Bytef*>(outer.data() + 8), static_cast<uLong>(zipped)),
      Z_OK);
  inner.resize(length);
  EXPECT_EQ(be(inner, 0, 4), 0x1c849313u) << "V2 encoding cookie";
  const std::uint64_t payload = be(inner, 4, 4);
  EXPECT_EQ(payload, inner.size() - 40);
  EXPECT_EQ(be(inner, 8, 4), 0u) << "normalizing index offset";
  p.digits = static_cast<std::uint32_t>(be(inner, 12, 4));
  p.lowest = static_cast<std::int64_t>(be(inner, 16, 8));
  p.highest = static_cast<std::int64_t>(be(inner, 24, 8));
  const std::uint64_t ratio_bits = be(inner, 32, 8);
  std::memcpy(&p.ratio, &ratio_bits, sizeof p.ratio);

  // Layout, as HdrHistogram derives it.
  const auto largest_single_unit = static_cast<std::int64_t>(2 * std::pow(10, p.digits));
  const int sub_bucket_count_magnitude =
      static_cast<int>(std::ceil(std::log2(static_cast<double>(largest_single_unit))));
  const int half_magnitude = std::max(sub_bucket_count_magnitude, 1) - 1;
  const std::int64_t half_count = std::int64_t{1} << half_magnitude;
  const int unit_magnitude = static_cast<int>(std::floor(std::log2(static_cast<double>(p.lowest))));
  auto value_from_index = [&](std::int64_t index) {
    std::int64_t bucket = (index >> half_magnitude) - 1;
    std::int64_t sub = (index & (half_count - 1)) + half_count;
    if (bucket < 0) {
      sub -= half_count;
      bucket = 0;
    }
    return static_cast<std::uint64_t>(sub) << (bucket + unit_magnitude);
  };

  std::int64_t index = 0;
  std::size_t at = 40;
  while (at < inner.size()) {
    std::uint64_t v = 0;
    for (int i = 0; i < 9; ++i) {
      const auto byte = static_cast<unsigned char>(inner.at(at++));
      if (i == 8) {
        v |= std::uint64_t{byte} << 56;
        break;
      }
      v |= std::uint64_t{byte & 0x7fu} << (7 * i);
      if ((byte & 0x80) == 0) break;
    }
    const std::int64_t count =
        static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
    if (count < 0) {
      index -= count;
      continue;
    }
    if (count > 0) {
      p.counts[value_from_index(index)] += static_cast<std::uint64_t>(count);
      p.total += static_cast<std::uint64_t>(count);
    }
    ++index;
  }
  return p;
}

const std::vector<std::pair<std::uint64_t, std::uint64_t>> kSamples = {{0, 3},
                                                                       {1, 1},
                                                                       {999, 7},
                                                                       {2047, 2},
                                                                       {2048, 5},
                                                                       {5000, 11},
                                                                       {123'456, 100},
                                                                       {1'000'000'000, 4},
                                                                       {3'000'000'000'000, 1}};

Histogram sample_histogram() {
  Histogram h;
  for (auto [value, n] : kSamples) h.record_n(value, n);
  return h;
}

TEST(HistLog, CompressedEncodingReadsBackByHdrHistogramsRules) {
  const Histogram h = sample_histogram();
  const std::string text = encode_hdr_compressed_base64(h);
  EXPECT_EQ(text.rfind("HISTFAAA", 0), 0u) << text.substr(0, 16);
  const Parsed p = parse_hdr(text);
  EXPECT_EQ(p.digits, 3u);
  EXPECT_EQ(p.lowest, 1);
  EXPECT_EQ(p.highest, static_cast<std::int64_t>(Histogram::kHighestTrackable));
  EXPECT_EQ(p.ratio, 1.0);
  EXPECT_EQ(p.total, h.count());
  ASSERT_EQ(p.counts.size(), kSamples.size());
  for (auto [value, n] : kSamples) {
    // HdrHistogram reports each count at its bucket's lowest value.
    const std::uint64_t lowest = Histogram::lowest_equivalent(value);
    ASSERT_TRUE(p.counts.contains(lowest)) << value;
    EXPECT_EQ(p.counts.at(lowest), n) << value;
  }
}

TEST(HistLog, EmptyHistogramEncodesNoCounts) {
  const Parsed p = parse_hdr(encode_hdr_compressed_base64(Histogram{}));
  EXPECT_EQ(p.total, 0u);
}

TEST(HistLog, WrittenLogParsesLineByLineAndMergeReadsItBack) {
  char path[] = "/tmp/hist_log_testXXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  Histogram second;
  second.record_n(777'000, 9);
  {
    HistLogWriter writer(path, 1'700'000'000.25);
    writer.write_interval(0, 1.0, sample_histogram());
    writer.write_interval(1.0, 0.5, second);
  }
  std::ifstream in(path);
  std::vector<std::string> data;
  bool version = false, start = false, columns = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#[Histogram log format version", 0) == 0) version = true;
    if (line.rfind("#[StartTime: 1700000000.250 ", 0) == 0) start = true;
    if (line ==
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
        "\"Interval_Compressed_Histogram\"")
      columns = true;
    if (!line.empty() && line[0] != '#' && line[0] != '"') data.push_back(line);
  }
  EXPECT_TRUE(version && start && columns);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[1].rfind("1.000,0.500,0.777,HISTF", 0), 0u) << data[1];
  EXPECT_EQ(parse_hdr(data[0].substr(data[0].rfind(',') + 1)).total, sample_histogram().count());
  EXPECT_EQ(parse_hdr(data[1].substr(data[1].rfind(',') + 1))
                .counts.at(Histogram::lowest_equivalent(777'000)),
            9u);

  ASSERT_TRUE(is_hist_log(path));
  const LoadResult merged = result_from_hist_log(read_hist_log(path));
  EXPECT_EQ(merged.totals.latency.count(), sample_histogram().count() + 9);
  EXPECT_DOUBLE_EQ(merged.window_s, 1.5);
  ::unlink(path);
}

TEST(HistLog, ANonLogLineIsRefusedWithItsNumber) {
  char path[] = "/tmp/hist_log_testXXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "#[Histogram log format version 1.3]\n0.0,1.0,2.0,HISTFAAAnotbase64!\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  try {
    read_hist_log(path);
    ADD_FAILURE() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(":2:"), std::string::npos) << e.what();
  }
  ::unlink(path);
}

}  // namespace
}  // namespace ringwire::load
