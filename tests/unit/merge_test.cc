// ringwire-load merge: results written with the generator's own JSON writer, read back and
// merged, give exactly the percentiles of one histogram fed every sample.

#include "merge.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>

#include "json_report.h"

namespace ringwire::load {
namespace {

// A result of `connections` connections whose round trips are `samples`.
LoadResult synthetic_run(const std::vector<std::uint64_t>& samples, std::size_t connections,
                         double frames_per_s) {
  LoadResult r;
  r.options.connections = connections;
  r.options.threads = 1;
  r.server = "127.0.0.1:7000";
  r.window_s = 5;
  for (std::uint64_t ns : samples) r.totals.latency.record(ns);
  r.totals.connect_latency.record(50'000);
  r.totals.frames_completed = samples.size();
  r.totals.bytes_sent = samples.size() * 68;
  r.totals.bytes_received = samples.size() * 68;
  r.connections_established = connections;
  r.frames_per_s = frames_per_s;
  r.bytes_per_s = frames_per_s * 136;
  r.fairness.min_frames = r.fairness.median_frames = r.fairness.max_frames =
      samples.size() / connections;
  r.cpu_s = 1;
  r.thread_cpu_fraction = {0.2};
  return r;
}

std::vector<std::uint64_t> samples(std::uint64_t low_ns, std::uint64_t high_ns, std::size_t n,
                                   unsigned seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<std::uint64_t> value(low_ns, high_ns);
  std::vector<std::uint64_t> out(n);
  for (auto& v : out) v = value(random);
  return out;
}

// Two generators: one saw fast replies, the other a slow tail.
struct TwoRuns {
  std::vector<std::uint64_t> fast = samples(20'000, 100'000, 20'000, 1);
  std::vector<std::uint64_t> slow = samples(1'000'000, 9'000'000, 3'000, 2);
  LoadResult a = synthetic_run(fast, 10, 40'000);
  LoadResult b = synthetic_run(slow, 6, 600);
  Histogram both;
  TwoRuns() {
    for (auto v : fast) both.record(v);
    for (auto v : slow) both.record(v);
  }
};

void expect_same_percentiles(const Histogram& merged, const Histogram& both) {
  ASSERT_EQ(merged.count(), both.count());
  for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    EXPECT_EQ(merged.value_at_percentile(p), both.value_at_percentile(p)) << "p" << p;
  }
  EXPECT_EQ(merged.max(), both.max());
}

TEST(MergeTest, MergedPercentilesEqualOneHistogramFedBothSampleSets) {
  TwoRuns runs;
  const LoadResult merged =
      merge_results({result_from_json(to_json(runs.a)), result_from_json(to_json(runs.b))});
  expect_same_percentiles(merged.totals.latency, runs.both);
  // What averaging the two p99s would have claimed is far from the truth.
  const std::uint64_t averaged = (runs.a.totals.latency.value_at_percentile(99) +
                                  runs.b.totals.latency.value_at_percentile(99)) /
                                 2;
  EXPECT_NE(averaged, runs.both.value_at_percentile(99));
}

TEST(MergeTest, RatesErrorsAndConnectionsAreSummedAndSaturationIsOred) {
  TwoRuns runs;
  runs.a.totals.count(ErrorKind::kPeerClosed, 2);
  runs.b.totals.count(ErrorKind::kPeerClosed, 1);
  runs.b.totals.count(ErrorKind::kReplyContent, 4);
  runs.b.totals.connect_errors[ECONNREFUSED] = 3;
  runs.b.client_saturated = true;
  runs.b.warnings = {"threads saturated"};
  const LoadResult merged =
      merge_results({result_from_json(to_json(runs.a)), result_from_json(to_json(runs.b))});
  EXPECT_DOUBLE_EQ(merged.frames_per_s, 40'600);
  EXPECT_DOUBLE_EQ(merged.bytes_per_s, 40'600 * 136.0);
  EXPECT_EQ(merged.connections_established, 16u);
  EXPECT_EQ(merged.options.connections, 16u);
  EXPECT_EQ(merged.totals.error_total(), 7u);  // connect_errors detail kConnectFailed, not added
  EXPECT_EQ(merged.totals.errors[static_cast<std::size_t>(ErrorKind::kPeerClosed)], 3u);
  EXPECT_EQ(merged.totals.connect_errors.at(ECONNREFUSED), 3u);
  EXPECT_TRUE(merged.client_saturated);
  ASSERT_EQ(merged.warnings.size(), 1u);
  EXPECT_EQ(merged.warnings[0], "run 2: threads saturated");
  EXPECT_EQ(merged.fairness.min_frames, 500u);
  EXPECT_EQ(merged.fairness.max_frames, 2000u);
  EXPECT_EQ(merged.totals.connect_latency.count(), 2u);
}

TEST(MergeTest, MergeCommandWritesAResultThatMergesAgain) {
  TwoRuns runs;
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "merge_test";
  std::filesystem::create_directories(dir);
  const std::string a = (dir / "a.json").string(), b = (dir / "b.json").string();
  const std::string out = (dir / "merged.json").string();
  write_json_file(a, to_json(runs.a));
  write_json_file(b, to_json(runs.b));
  ASSERT_EQ(run_merge({{a, b}, out}), 0);
  std::ifstream in(out);
  const nlohmann::json merged = nlohmann::json::parse(in);
  EXPECT_EQ(merged.at("merged_from").size(), 2u);
  EXPECT_EQ(merged.at("machine").size(), 2u);
  expect_same_percentiles(result_from_json(merged).totals.latency, runs.both);
  EXPECT_DOUBLE_EQ(merged.at("latency_us").at("p99").get<double>(),
                   static_cast<double>(runs.both.value_at_percentile(99)) / 1e3);
}

TEST(MergeTest, AResultWithoutItsEncodedHistogramIsRefused) {
  nlohmann::json j = to_json(TwoRuns().a);
  j["latency_us"].erase("encoded");
  EXPECT_THROW(result_from_json(j), std::runtime_error);
}

TEST(MergeTest, ErrnoCountsAndChurnSurviveTheJson) {
  LoadResult r = TwoRuns().a;
  r.totals.connect_errors = {{ECONNREFUSED, 2}, {ETIMEDOUT, 1}};
  r.totals.socket_errors = {{ECONNRESET, 3}};
  r.totals.churn_cycles = 40;
  r.totals.first_reply.record(123'000);
  r.connections_per_s = 8;
  const LoadResult back = result_from_json(nlohmann::json::parse(to_json(r).dump()));
  EXPECT_EQ(back.totals.connect_errors, r.totals.connect_errors);
  EXPECT_EQ(back.totals.socket_errors, r.totals.socket_errors);
  EXPECT_EQ(back.totals.churn_cycles, 40u);
  EXPECT_EQ(back.totals.first_reply.count(), 1u);
  EXPECT_DOUBLE_EQ(back.connections_per_s, 8);
}

}  // namespace
}  // namespace ringwire::load
