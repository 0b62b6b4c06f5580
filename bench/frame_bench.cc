// Frame decoder throughput: a buffer of back-to-back frames decoded in place, as a Connection does.

#include <benchmark/benchmark.h>

#include <vector>

#include "ringwire/frame.h"

namespace ringwire {
namespace {

std::vector<std::byte> frames_of(std::size_t payload, std::size_t count) {
  std::vector<std::byte> stream((kFrameHeaderSize + payload) * count, std::byte{0x61});
  for (std::size_t i = 0; i < count; ++i) {
    encode_frame_header(std::span(stream).subspan(i * (kFrameHeaderSize + payload)),
                        static_cast<std::uint32_t>(payload));
  }
  return stream;
}

void BM_DecodeFrames(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  const std::size_t count = std::max<std::size_t>(1, (256 * 1024) / (payload + kFrameHeaderSize));
  const auto stream = frames_of(payload, count);
  for (auto _ : state) {
    std::span<const std::byte> rest(stream);
    std::size_t frames = 0;
    while (true) {
      const FrameView frame = decode_frame(rest, kDefaultMaxFrame);
      if (frame.status != FrameStatus::kComplete) break;
      benchmark::DoNotOptimize(frame.payload.data());
      rest = rest.subspan(frame.needed);
      ++frames;
    }
    benchmark::DoNotOptimize(frames);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_DecodeFrames)->Arg(64)->Arg(64 * 1024);

}  // namespace
}  // namespace ringwire

BENCHMARK_MAIN();
