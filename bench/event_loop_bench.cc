// EventLoop::post() from another thread: what a cross-thread hand-off (drain, stop, the exact
// balance mode's connection hand-off) costs, with and without the eventfd wake-up of a sleeping
// loop.

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

#include "ringwire/event_loop.h"

namespace ringwire {
namespace {

// A loop running on its own thread for the benchmark's lifetime. Owns the loop and the thread.
class RunningLoop {
 public:
  RunningLoop() : thread_([this] { loop_.run(); }) {}
  ~RunningLoop() {
    loop_.stop();
    thread_.join();
  }
  EventLoop& loop() { return loop_; }

 private:
  EventLoop loop_;
  std::thread thread_;
};

// One task posted to a sleeping loop, and the poster waits until it has run: post, wake-up
// (eventfd write, epoll return), run, and the cross-core visibility of the result.
void BM_PostWakeRoundTrip(benchmark::State& state) {
  RunningLoop running;
  std::atomic<std::uint64_t> done{0};
  std::uint64_t posted = 0;
  for (auto _ : state) {
    ++posted;
    running.loop().post([&done] { done.fetch_add(1, std::memory_order_release); });
    while (done.load(std::memory_order_acquire) != posted) {
    }
  }
}
BENCHMARK(BM_PostWakeRoundTrip)->UseRealTime();

// A burst of tasks posted back to back, then the poster waits for the last: the per-task cost
// when wake-ups are amortised over a batch.
void BM_PostBurst(benchmark::State& state) {
  const auto burst = static_cast<std::uint64_t>(state.range(0));
  RunningLoop running;
  std::atomic<std::uint64_t> done{0};
  std::uint64_t posted = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < burst; ++i) {
      running.loop().post([&done] { done.fetch_add(1, std::memory_order_relaxed); });
    }
    posted += burst;
    while (done.load(std::memory_order_acquire) != posted) {
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(burst));
}
BENCHMARK(BM_PostBurst)->Arg(16)->Arg(256)->UseRealTime();

}  // namespace
}  // namespace ringwire

BENCHMARK_MAIN();
