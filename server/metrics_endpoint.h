#pragma once
// MetricsEndpoint: serves the engine's counters and histograms, the process_* metrics and the build
// info as Prometheus text on GET (or HEAD) /metrics, and health on /healthz (200 while serving, 503
// once draining), over plain HTTP/1.0 (one request per connection, then close; a query string is
// ignored; other methods get 405). Owned by main; owns its listening socket and its open requests;
// runs on the control loop's thread, never on a serving loop.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ringwire/event_loop.h"
#include "ringwire/listener.h"
#include "ringwire/net.h"
#include "ringwire/server.h"

namespace ringwire {

// What ringwire_build_info says (its labels).
struct BuildLabels {
  std::string version;
  std::string commit;
  std::string engine;
  std::string backend;
};

// The Prometheus exposition: per-loop counters and histograms (label loop="i"), reasons as a label
// of closes, ringwire_build_info, and the process_* metrics.
std::string render_metrics(const std::vector<StatsSnapshot>& per_loop, const BuildLabels& build);

class MetricsEndpoint final : public AcceptHandler {
 public:
  // A request larger than this is answered 431 and closed: the endpoint is for scrapers.
  static constexpr std::size_t kMaxRequestBytes = 8 * 1024;
  // A scraper that opens a connection and says nothing is dropped after this long.
  static constexpr std::chrono::seconds kRequestTimeout{5};

  // Binds `address` (throws std::system_error, one line). `snapshot` is called per scrape.
  MetricsEndpoint(EventLoop& loop, const SocketAddress& address, BuildLabels build,
                  std::function<std::vector<StatsSnapshot>()> snapshot);
  ~MetricsEndpoint();
  std::uint16_t port() const { return address_.port(); }
  // The server began draining: /healthz answers 503 from now on, so a load balancer stops sending.
  void set_draining() { draining_ = true; }

 private:
  class Request;
  void on_accepted(UniqueFd socket, const SocketAddress& peer) override;
  // Out of descriptors is when an operator scrapes: answer on the listener's reserve descriptor.
  bool serve_on_reserve() const override { return true; }
  void finished(Request& request);

  EventLoop& loop_;
  SocketAddress address_;
  LoopStats own_stats_;  // the listener's accept counters
  std::unique_ptr<Listener> listener_;
  BuildLabels build_;
  std::function<std::vector<StatsSnapshot>()> snapshot_;
  bool draining_ = false;
  std::vector<std::unique_ptr<Request>> requests_;
};

}  // namespace ringwire
