// Ring buffer and pool: the cost of the operations a connection does per read and per reply.

#include <benchmark/benchmark.h>

#include <cstring>

#include "ringwire/ring_buffer.h"
#include "ringwire/ring_pool.h"

namespace ringwire {
namespace {

// Write a chunk then read it back, wrapping around the ring: commit/consume bookkeeping plus the
// copy a recv() would do into the ring (memcpy stands in for the kernel's copy).
void BM_RingWriteRead(benchmark::State& state) {
  const auto chunk = static_cast<std::size_t>(state.range(0));
  RingBuffer ring(RingPool::kMinRingCapacity);
  std::vector<std::byte> source(chunk, std::byte{7});
  ring.commit(1);  // keep one byte so positions advance and wrap instead of resetting
  for (auto _ : state) {
    std::memcpy(ring.writable().data(), source.data(), chunk);
    ring.commit(chunk);
    benchmark::DoNotOptimize(ring.readable().data());
    ring.consume(chunk);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(chunk));
}
BENCHMARK(BM_RingWriteRead)->Arg(64)->Arg(4096)->Arg(32 * 1024);

// Lend and take back a ring: what a connection pays each time it goes from idle to busy.
void BM_PoolAcquireRelease(benchmark::State& state) {
  RingPool pool;
  pool.release(pool.acquire());
  for (auto _ : state) {
    RingBuffer ring = pool.acquire();
    benchmark::DoNotOptimize(ring.writable().data());
    pool.release(std::move(ring));
  }
}
BENCHMARK(BM_PoolAcquireRelease);

// Map a fresh ring (memfd + three mmaps) and unmap it: the cost the pool saves.
void BM_RingMapUnmap(benchmark::State& state) {
  for (auto _ : state) {
    RingBuffer ring(RingPool::kMinRingCapacity);
    benchmark::DoNotOptimize(ring.writable().data());
  }
}
BENCHMARK(BM_RingMapUnmap);

}  // namespace
}  // namespace ringwire

BENCHMARK_MAIN();
