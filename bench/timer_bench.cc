// TimerQueue: arming and cancelling a timer, as a connection does for its idle timeout and its
// linger deadline, with N other timers live (the heap's depth is what grows with connections).

#include <benchmark/benchmark.h>

#include <chrono>

#include "ringwire/timer_queue.h"

namespace ringwire {
namespace {

// A queue already holding `n` timers spread over a minute from `now`, none of them due.
struct LoadedQueue {
  explicit LoadedQueue(std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      timers.add(now + std::chrono::milliseconds(1000 + (i * 7919) % 60000), [] {});
    }
  }
  TimerQueue timers;
  const TimePoint now = Clock::now();
};

void BM_TimerAddCancel(benchmark::State& state) {
  LoadedQueue queue(state.range(0));
  auto& [timers, now] = queue;
  std::int64_t i = 0;
  for (auto _ : state) {
    const TimerId id = timers.add(now + std::chrono::milliseconds(500 + (i++ % 30000)), [] {});
    benchmark::DoNotOptimize(timers.cancel(id));
  }
}
BENCHMARK(BM_TimerAddCancel)->Arg(0)->Arg(1000)->Arg(100000);

// Add then let it fire: the path of a timer that is not cancelled (run_due pops the heap).
void BM_TimerAddFire(benchmark::State& state) {
  LoadedQueue queue(state.range(0));
  auto& [timers, now] = queue;
  std::uint64_t fired = 0;
  for (auto _ : state) {
    timers.add(now, [&fired] { ++fired; });
    timers.run_due(now);
  }
  benchmark::DoNotOptimize(fired);
}
BENCHMARK(BM_TimerAddFire)->Arg(0)->Arg(100000);

}  // namespace
}  // namespace ringwire

BENCHMARK_MAIN();
