// upper: a service built on an installed ringwire. Each frame is answered with its payload
// upper-cased. Usage: upper [PORT] (default 0: a free port, printed). SIGINT/SIGTERM drain it.
#include <ringwire/frame.h>
#include <ringwire/reactor.h>
#include <ringwire/server.h>
#include <ringwire/service.h>
#include <signal.h>

#include <cctype>
#include <cstdio>
#include <future>
#include <string>

class UpperService final : public ringwire::Service {
 public:
  std::string_view name() const override { return "upper"; }
  // Called on a loop thread for every complete frame; one instance per loop, so no locks.
  ringwire::FrameResult on_frame(std::span<const std::byte> payload,
                                 ringwire::ReplyWriter& out) override {
    const std::span<std::byte> reply = out.append(ringwire::kFrameHeaderSize + payload.size());
    ringwire::encode_frame_header(reply, static_cast<std::uint32_t>(payload.size()));
    for (std::size_t i = 0; i < payload.size(); ++i) {
      const int c = std::toupper(std::to_integer<unsigned char>(payload[i]));
      reply[ringwire::kFrameHeaderSize + i] = static_cast<std::byte>(c);
    }
    return {};
  }
};

int main(int argc, char** argv) {
  // Blocked before any loop thread starts, so only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ringwire::Reactor reactor({.loops = 2});
  ringwire::ServerOptions options;  // 127.0.0.1, 16 MiB frames at most, no connection limit
  options.port = static_cast<std::uint16_t>(argc > 1 ? std::stoul(argv[1]) : 0);
  ringwire::Server server(reactor, options, [] { return std::make_unique<UpperService>(); });
  server.start();  // binds every loop's listener; throws std::system_error on failure
  reactor.start();
  std::printf("upper listening on port %u\n", unsigned{server.port()});
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::promise<void> drained;  // stop accepting, let open connections finish (5 s at most)
  server.drain(std::chrono::seconds(5), [&drained] { drained.set_value(); });
  drained.get_future().wait();
  reactor.stop();
  reactor.join();
  return 0;
}
