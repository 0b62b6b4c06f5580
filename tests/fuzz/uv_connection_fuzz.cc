// libFuzzer target: the uv engine's UvConnection driven by the same programs and checked against
// the same oracle as the native Connection (fuzz_support.h). Built by tools/fuzz.sh (clang,
// -fsanitize=fuzzer,address,undefined).
//
// The server side: one UvConnection on a libuv loop, with the loop's RingPool; a
// turn is one uv_run(UV_RUN_NOWAIT). It must also close both its handles and hand back every
// ring it borrowed.

#include <uv.h>

#include <csignal>

#include "engines/uv_connection.h"
#include "fuzz_support.h"
#include "ringwire/log.h"
#include "ringwire/ring_pool.h"

namespace ringwire::fuzz {
namespace {

// Everything that lives across inputs: one libuv loop and its pools, as on a uv engine loop.
struct Fixture {
  Fixture() {
    set_log_level(LogLevel::kOff);
    ::signal(SIGPIPE, SIG_IGN);  // as the uv engine does: libuv writes with writev()
    if (uv_loop_init(&loop) != 0) fail("uv_loop_init");
  }
  uv_loop_t loop;
  RingPool rings;
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

class UvSide final : public ServerSide, private UvConnectionOwner {
 public:
  explicit UvSide(ServerSetup setup)
      : context_{fixture().loop,
                 SessionContext{fixture().rings, setup.service, setup.stats, setup.limits}, *this},
        connection_(std::make_unique<UvConnection>(context_)) {
    connection_->start(std::move(setup.socket));
  }
  ~UvSide() override {
    if (connection_) {  // the program ended with the connection open: close it as shutdown does
      connection_->abort(CloseReason::kShutdown);
      while (connection_) uv_run(&fixture().loop, UV_RUN_NOWAIT);
    }
  }

  void turn() override { uv_run(&fixture().loop, UV_RUN_NOWAIT); }
  bool open() const override { return connection_ != nullptr; }
  void begin_drain() override { connection_->begin_drain(); }
  void check_buffers_returned() override {
    if (uv_loop_alive(&fixture().loop)) fail("a handle of the closed connection is still open");
    if (fixture().rings.stats().rings_lent != 0) fail("the pool still lends a ring");
  }

 private:
  void on_closed(UvConnection&) override { connection_.reset(); }

  UvConnectionContext context_;
  std::unique_ptr<UvConnection> connection_;
};

}  // namespace
}  // namespace ringwire::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return ringwire::fuzz::fuzz_one_input<ringwire::fuzz::UvSide>(data, size);
}
