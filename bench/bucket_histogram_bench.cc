// What the per-loop metrics histograms add to the data path: BucketHistogram::record() per frame
// (frame sizes) and, per loop turn, one more clock read plus a record() (loop turns). Multiplied by
// frames and turns per second of a run, it bounds their share of the server's CPU (RESULTS.md).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "ringwire/bucket_histogram.h"
#include "ringwire/stats.h"
#include "ringwire/timer_queue.h"

namespace {

// Frame sizes spread over every bucket, drawn up front so the loop times only record().
std::vector<std::uint64_t> sample_sizes() {
  constexpr std::size_t kValues = 4096;  // a power of two: the loop indexes with a mask
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> values(kValues);
  for (auto& v : values) v = rng() >> (rng() % 64);
  return values;
}

void BM_BucketHistogramRecord(benchmark::State& state) {
  const auto values = sample_sizes();
  ringwire::BucketHistogram histogram(ringwire::kFrameSizeLayout);
  std::size_t i = 0;
  for (auto _ : state) {
    histogram.record(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(histogram.sum());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BucketHistogramRecord);

// The echo path's way: a decode pass records its frames as one Run (here 16 frames of 64 B).
void BM_BucketHistogramRun16(benchmark::State& state) {
  ringwire::BucketHistogram histogram(ringwire::kFrameSizeLayout);
  for (auto _ : state) {
    ringwire::BucketHistogram::Run run(histogram);
    for (int i = 0; i < 16; ++i) {
      std::uint64_t size = 64;
      benchmark::DoNotOptimize(size);  // not folded into one add of 16
      run.record(size);
    }
  }
  benchmark::DoNotOptimize(histogram.sum());
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_BucketHistogramRun16);

// The loop-turn histogram's whole cost per turn: the clock read and the record.
void BM_LoopTurnTiming(benchmark::State& state) {
  ringwire::BucketHistogram histogram(ringwire::kLoopTurnLayout);
  const ringwire::TimePoint woke = ringwire::Clock::now();
  for (auto _ : state) {
    histogram.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(ringwire::Clock::now() - woke)
            .count()));
  }
  benchmark::DoNotOptimize(histogram.sum());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoopTurnTiming);

}  // namespace

BENCHMARK_MAIN();
