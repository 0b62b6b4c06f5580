#include "load_stats.h"

#include <numeric>

namespace ringwire::load {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kReplyLength:
      return "reply_length";
    case ErrorKind::kReplySequence:
      return "reply_sequence";
    case ErrorKind::kReplyContent:
      return "reply_content";
    case ErrorKind::kReplyUnexpected:
      return "reply_unexpected";
    case ErrorKind::kReplyTooLarge:
      return "reply_too_large";
    case ErrorKind::kPeerClosed:
      return "peer_closed";
    case ErrorKind::kSocketError:
      return "socket_error";
    case ErrorKind::kConnectFailed:
      return "connect_failed";
    case ErrorKind::kConnectTimeout:
      return "connect_timeout";
    case ErrorKind::kQueueOverflow:
      return "queue_overflow";
  }
  return "?";
}

std::uint64_t ThreadStats::error_total() const {
  return std::accumulate(errors.begin(), errors.end(), std::uint64_t{0});
}

}  // namespace ringwire::load
