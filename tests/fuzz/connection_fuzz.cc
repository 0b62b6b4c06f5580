// libFuzzer target: the frame decoder and the native Connection's read path, driven by random
// bytes in random chunks (the program and the oracle: fuzz_support.h). Built by tools/fuzz.sh
// (clang, -fsanitize=fuzzer,address,undefined).
//
// The server side: one Connection on an EventLoop, with the loop's RingPool and PipePool, so
// every chunking, pipelining, partial write (a small socket buffer), backpressure (small water
// marks) and splice pass-through the fuzzer can find reaches it. It must also hand back every
// ring and pipe it borrowed.

#include "native_side.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ringwire::fuzz;
  static LoopFixture fixture("epoll");
  run_input(data, size, [](ServerSetup setup) -> std::unique_ptr<ServerSide> {
    return std::make_unique<NativeSide<ringwire::Connection>>(
        NativeLoop{*fixture.loop, fixture.rings, fixture.pipes, /*pass_through=*/true},
        std::move(setup));
  });
  return 0;
}
