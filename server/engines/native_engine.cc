// NativeEngine: ringwire's own reactor (core's Reactor + Server).

#include <csignal>

#include "engines/engine.h"
#include "ringwire/reactor.h"
#include "services/services.h"

namespace ringwire {
namespace {

ServerOptions server_options(const ServerConfig& config) {
  ServerOptions options;
  options.bind = config.bind;
  options.port = config.port;
  options.max_connections = config.max_connections;
  options.balance = config.balance;
  options.join_reuseport_group = config.reuse_port;
  options.inherited_listeners = config.inherited_listeners;
  options.limits.max_frame = config.max_frame;
  options.limits.idle_timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config.idle_timeout_s));
  return options;
}

class NativeEngine final : public Engine {
 public:
  explicit NativeEngine(const ServerConfig& config)
      : reactor_(ReactorOptions{config.threads, config.pin_cpus, config.backend}),
        server_(reactor_, server_options(config),
                service_factory(config.service, config.max_frame)) {}

  ~NativeEngine() override { stop(); }  // loops stop before the server they run goes away

  void start() override {
    // Large echoed frames are passed through with splice(2), which cannot say MSG_NOSIGNAL: a
    // peer's reset must fail one splice with EPIPE, not kill the process.
    ::signal(SIGPIPE, SIG_IGN);
    server_.start();
    reactor_.start();
  }
  std::uint16_t port() const override { return server_.port(); }
  std::size_t loops() const override { return reactor_.size(); }
  std::vector<int> listening_fds() const override { return server_.listening_fds(); }
  std::string backend() const override { return std::string(reactor_.loop(0).backend_name()); }
  void drain(Clock::duration timeout, std::function<void()> done) override {
    server_.drain(timeout, std::move(done));
  }
  void stop() override {
    reactor_.stop();
    reactor_.join();
  }
  StatsSnapshot stats() const override { return server_.stats(); }
  StatsSnapshot loop_stats(std::size_t loop) const override { return server_.loop_stats(loop); }

 private:
  Reactor reactor_;
  Server server_;
};

}  // namespace

std::unique_ptr<Engine> make_native_engine(const ServerConfig& config) {
  return std::make_unique<NativeEngine>(config);
}

}  // namespace ringwire
