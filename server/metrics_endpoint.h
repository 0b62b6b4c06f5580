#pragma once
// MetricsEndpoint: serves the engine's counters as Prometheus text on GET /metrics over plain
// HTTP/1.0 (one request per connection, then close). Owned by main; owns its listening socket and
// its open requests; runs on the control loop's thread, never on a serving loop.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ringwire/event_loop.h"
#include "ringwire/listener.h"
#include "ringwire/net.h"
#include "ringwire/server.h"

namespace ringwire {

// The Prometheus exposition of per-loop counters (label loop="i"), reasons as a label of closes.
std::string render_metrics(const std::vector<StatsSnapshot>& per_loop);

class MetricsEndpoint final : public AcceptHandler {
 public:
  // A request larger than this is answered 431 and closed: the endpoint is for scrapers.
  static constexpr std::size_t kMaxRequestBytes = 8 * 1024;
  // A scraper that opens a connection and says nothing is dropped after this long.
  static constexpr std::chrono::seconds kRequestTimeout{5};

  // Binds `address` (throws std::system_error, one line). `snapshot` is called per scrape.
  MetricsEndpoint(EventLoop& loop, const SocketAddress& address,
                  std::function<std::vector<StatsSnapshot>()> snapshot);
  ~MetricsEndpoint();
  std::uint16_t port() const { return address_.port(); }

 private:
  class Request;
  void on_accepted(UniqueFd socket, const SocketAddress& peer) override;
  void finished(Request& request);

  EventLoop& loop_;
  SocketAddress address_;
  LoopStats own_stats_;  // the listener's accept counters
  std::unique_ptr<Listener> listener_;
  std::function<std::vector<StatsSnapshot>()> snapshot_;
  std::vector<std::unique_ptr<Request>> requests_;
};

}  // namespace ringwire
