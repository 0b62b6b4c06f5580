// libFuzzer target: the io_uring completion transport (UringConnection: multishot receives into
// the loop's provided buffers, one sendmsg in flight, cancels), driven by the programs and oracle
// of fuzz_support.h. Built by tools/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined).
//
// The server side: one UringConnection on an io_uring EventLoop, with the loop's RingPool, so
// every chunking, pipelining, short send (a small socket buffer), backpressure (small water
// marks: the receive is cancelled and armed again, bytes wait in the connection), half-close and
// drain (the receive cancelled to learn the socket is empty) and pass-through (large echoed
// frames: the receive stopped, splice on readiness) the fuzzer can find reaches it. It
// must also hand back every ring it borrowed. Where this kernel has no io_uring completion form,
// every input passes untested (the target says so once).

#include <cstdio>

#include "native_side.h"
#include "ringwire/uring_connection.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ringwire::fuzz;
  static LoopFixture fixture("io_uring");
  static const bool usable = [] {
    if (fixture.loop && fixture.loop->completions()) return true;
    std::fprintf(stderr, "uring_connection_fuzz: no io_uring completion form here; nothing run\n");
    return false;
  }();
  if (!usable) return 0;
  run_input(data, size, [](ServerSetup setup) -> std::unique_ptr<ServerSide> {
    return std::make_unique<NativeSide<ringwire::UringConnection>>(
        NativeLoop{*fixture.loop, fixture.rings, fixture.pipes, /*pass_through=*/true},
        std::move(setup));
  });
  return 0;
}
