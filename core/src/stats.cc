#include "ringwire/stats.h"

namespace ringwire {

std::string_view to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::kPeerClosed:
      return "peer_closed";
    case CloseReason::kPeerReset:
      return "peer_reset";
    case CloseReason::kProtocolError:
      return "protocol_error";
    case CloseReason::kIdleTimeout:
      return "idle_timeout";
    case CloseReason::kDrained:
      return "drained";
    case CloseReason::kDrainTimeout:
      return "drain_timeout";
    case CloseReason::kMaxConnections:
      return "max_connections";
    case CloseReason::kOutOfMemory:
      return "out_of_memory";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kServiceError:
      return "service_error";
  }
  return "unknown";
}

}  // namespace ringwire
