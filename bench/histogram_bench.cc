// Histogram microbenchmarks: record() is on the load generator's per-reply path, so it must cost a
// few nanoseconds; merge and a percentile query run once per report (or per live line).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "ringwire/histogram.h"

namespace {

// Latency-like values (log-normal, median ~60 µs), drawn up front so the loop times only record().
std::vector<std::uint64_t> sample_values() {
  constexpr std::size_t kValues = 4096;  // a power of two: the loop indexes with a mask
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> dist(11.0, 1.5);
  std::vector<std::uint64_t> values(kValues);
  for (auto& v : values) v = static_cast<std::uint64_t>(dist(rng));
  return values;
}

void BM_HistogramRecord(benchmark::State& state) {
  const auto values = sample_values();
  ringwire::Histogram h;
  std::size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

void BM_HistogramMerge(benchmark::State& state) {
  ringwire::Histogram a, b;
  for (auto v : sample_values()) b.record(v);
  for (auto _ : state) a.merge(b);
  benchmark::DoNotOptimize(a.count());
}
BENCHMARK(BM_HistogramMerge);

void BM_HistogramPercentile(benchmark::State& state) {
  ringwire::Histogram h;
  for (auto v : sample_values()) h.record(v);
  for (auto _ : state) benchmark::DoNotOptimize(h.value_at_percentile(99.9));
}
BENCHMARK(BM_HistogramPercentile);

}  // namespace

BENCHMARK_MAIN();
