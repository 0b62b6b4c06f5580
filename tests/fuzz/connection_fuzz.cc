// libFuzzer target: the frame decoder and the native Connection's read path, driven by random
// bytes in random chunks (the program and the oracle: fuzz_support.h). Built by tools/fuzz.sh
// (clang, -fsanitize=fuzzer,address,undefined).
//
// The server side: one Connection on an EventLoop, with the loop's RingPool and PipePool, so
// every chunking, pipelining, partial write (a small socket buffer), backpressure (small water
// marks) and splice pass-through the fuzzer can find reaches it. It must also hand back every
// ring and pipe it borrowed.

#include <csignal>

#include "native_side.h"
#include "ringwire/log.h"

namespace ringwire::fuzz {
namespace {

// Everything that lives across inputs: one loop and its pools, as on a server loop.
struct Fixture {
  Fixture() {
    set_log_level(LogLevel::kOff);
    ::signal(SIGPIPE, SIG_IGN);  // as the server does, so echoed large frames may be spliced
  }
  EventLoop loop;
  RingPool rings;
  PipePool pipes;
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

}  // namespace
}  // namespace ringwire::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ringwire::fuzz;
  run_input(data, size, [](ServerSetup setup) -> std::unique_ptr<ServerSide> {
    Fixture& f = fixture();
    return std::make_unique<NativeSide<ringwire::Connection>>(
        NativeLoop{f.loop, f.rings, f.pipes, /*pass_through=*/true}, std::move(setup));
  });
  return 0;
}
