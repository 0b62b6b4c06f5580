// libFuzzer target: the frame decoder and the native Connection's read path, driven by random
// bytes in random chunks (the program and the oracle: fuzz_support.h). Built by tools/fuzz.sh
// (clang, -fsanitize=fuzzer,address,undefined).
//
// The server side: one Connection on an EventLoop, with the loop's RingPool and PipePool, so
// every chunking, pipelining, partial write (a small socket buffer), backpressure (small water
// marks) and splice pass-through the fuzzer can find reaches it. It must also hand back every
// ring and pipe it borrowed.

#include <csignal>
#include <cstdlib>
#include <string>

#include "fuzz_support.h"
#include "ringwire/event_loop.h"
#include "ringwire/log.h"
#include "ringwire/pipe_pool.h"
#include "ringwire/ring_pool.h"

namespace ringwire::fuzz {
namespace {

// The poller under test: RINGWIRE_FUZZ_BACKEND (tools/fuzz.sh runs one process per backend),
// else the platform's best.
std::string backend_from_environment() {
  const char* name = std::getenv("RINGWIRE_FUZZ_BACKEND");
  return name == nullptr ? std::string() : std::string(name);
}

// Everything that lives across inputs: one loop and its pools, as on a server loop.
struct Fixture {
  Fixture() {
    set_log_level(LogLevel::kOff);
    ::signal(SIGPIPE, SIG_IGN);  // as the server does, so echoed large frames may be spliced
  }
  EventLoop loop{backend_from_environment()};
  RingPool rings;
  PipePool pipes;
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

class NativeSide final : public ServerSide {
 public:
  explicit NativeSide(ServerSetup setup)
      : context_{fixture().loop,
                 SessionContext{fixture().rings, setup.service, setup.stats, setup.limits},
                 fixture().pipes, setup.service.echoes_every_frame(),
                 [this](NativeConnection&) { connection_.reset(); }},
        connection_(
            std::make_unique<Connection>(context_, std::move(setup.socket), SocketAddress{})) {
    connection_->start();
  }

  void turn() override {
    EventLoop& loop = fixture().loop;
    loop.post([&loop] { loop.stop(); });  // the posted stop wakes the wait at once
    loop.run();
  }
  bool open() const override { return connection_ != nullptr; }
  void begin_drain() override { connection_->begin_drain(); }
  void check_buffers_returned() override {
    if (fixture().rings.stats().rings_lent != 0) fail("the pool still lends a ring");
  }

 private:
  ConnectionContext context_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace
}  // namespace ringwire::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return ringwire::fuzz::fuzz_one_input<ringwire::fuzz::NativeSide>(data, size);
}
