#pragma once
// ConnectionRefusals: what a loop does with a connection accepted past --max-connections, in
// either engine: counts it (accepted, and closed for CloseReason::kMaxConnections) and says so at
// most once per interval. The caller closes the socket. One per loop; loop thread only.

#include <cstdint>

#include "ringwire/log.h"
#include "ringwire/log_limiter.h"
#include "ringwire/net.h"
#include "ringwire/stats.h"

namespace ringwire {

class ConnectionRefusals {
 public:
  explicit ConnectionRefusals(LoopStats& stats) : stats_(stats) {}

  void refuse(std::uint64_t limit, const SocketAddress& peer, TimePoint now) {
    stats_.connections_accepted.add();
    stats_.count_close(CloseReason::kMaxConnections);
    if (const std::uint64_t refused = log_limit_.occurred(now); refused != 0) {
      log(LogLevel::kWarn,
          "--max-connections {} reached: closed {} new connection(s), last from {}", limit, refused,
          peer.to_string());
    }
  }

 private:
  LoopStats& stats_;
  LogLimiter log_limit_;
};

}  // namespace ringwire
