// libFuzzer target: the frame decoder and the native Connection's read path, driven by random
// bytes in random chunks (the program and the oracle: fuzz_support.h). Built by tools/fuzz.sh
// (clang, -fsanitize=fuzzer,address,undefined).
//
// The server side: one Connection on an EventLoop, with the loop's RingPool and PipePool, so
// every chunking, pipelining, partial write (a small socket buffer), backpressure (small water
// marks) and splice pass-through the fuzzer can find reaches it. It must also hand back every
// ring and pipe it borrowed.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "native_side.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ringwire::fuzz;
  // The poller under test: RINGWIRE_FUZZ_BACKEND (tools/fuzz.sh runs one process per backend:
  // epoll, and kqueue on its Linux test double), else epoll.
  static LoopFixture fixture([] {
    const char* name = std::getenv("RINGWIRE_FUZZ_BACKEND");
    return std::string(name == nullptr || *name == '\0' ? "epoll" : name);
  }());
  if (!fixture.loop) {
    std::fprintf(stderr, "connection_fuzz: RINGWIRE_FUZZ_BACKEND names no backend of this build\n");
    std::abort();
  }
  run_input(data, size, [](ServerSetup setup) -> std::unique_ptr<ServerSide> {
    return std::make_unique<NativeSide<ringwire::Connection>>(
        NativeLoop{*fixture.loop, fixture.rings, fixture.pipes, /*pass_through=*/true},
        std::move(setup));
  });
  return 0;
}
