#pragma once
// The server side shared by the native transports' fuzz targets: one connection of type `C`
// (Connection: readiness; UringConnection: io_uring completions) on a loop with its pools, as on
// a server loop. The loop and pools live across inputs (the target's fixture).

#include <csignal>
#include <memory>
#include <optional>
#include <string_view>

#include "fuzz_support.h"
#include "ringwire/connection.h"
#include "ringwire/event_loop.h"
#include "ringwire/log.h"
#include "ringwire/pipe_pool.h"
#include "ringwire/ring_pool.h"

namespace ringwire::fuzz {

// What lives across a target's inputs: one loop of `backend` and its pools, as on a server loop.
// `loop` stays empty where this build or kernel has no such backend.
struct LoopFixture {
  explicit LoopFixture(std::string_view backend) {
    set_log_level(LogLevel::kOff);
    ::signal(SIGPIPE, SIG_IGN);  // as the server does, so echoed large frames may be spliced
    for (const auto& name : available_backends()) {
      if (name == backend) loop.emplace(backend);
    }
  }
  std::optional<EventLoop> loop;
  RingPool rings;
  PipePool pipes;
};

struct NativeLoop {
  EventLoop& loop;
  RingPool& rings;
  PipePool& pipes;
  bool pass_through;  // the service echoes every frame and SIGPIPE is ignored
};

template <typename C>
class NativeSide final : public ServerSide {
 public:
  NativeSide(const NativeLoop& native, ServerSetup setup)
      : native_(native),
        context_{native.loop,
                 SessionContext{native.rings, setup.service, setup.stats, setup.limits},
                 native.pipes, native.pass_through && setup.service.echoes_every_frame(),
                 [this](NativeConnection&) { connection_.reset(); }},
        connection_(std::make_unique<C>(context_, std::move(setup.socket), SocketAddress{})) {
    connection_->start();
  }

  void turn() override {
    EventLoop& loop = native_.loop;
    loop.post([&loop] { loop.stop(); });  // the posted stop wakes the wait at once
    loop.run();
  }
  bool open() const override { return connection_ != nullptr; }
  void begin_drain() override { connection_->begin_drain(); }
  void check_buffers_returned() override {
    if (native_.rings.stats().rings_lent != 0) fail("the pool still lends a ring");
  }

 private:
  NativeLoop native_;
  ConnectionContext context_;
  std::unique_ptr<C> connection_;
};

}  // namespace ringwire::fuzz
