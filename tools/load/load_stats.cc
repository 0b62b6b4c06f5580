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

void ThreadStats::merge(const ThreadStats& from) {
  latency.merge(from.latency);
  latency_from_send.merge(from.latency_from_send);
  send_lateness.merge(from.send_lateness);
  schedule_lag.merge(from.schedule_lag);
  connect_latency.merge(from.connect_latency);
  first_reply.merge(from.first_reply);
  connections_established += from.connections_established;
  churn_cycles += from.churn_cycles;
  reconnects += from.reconnects;
  frames_resent += from.frames_resent;
  for (const auto& [error, n] : from.socket_errors) socket_errors[error] += n;
  frames_completed += from.frames_completed;
  frames_sent += from.frames_sent;
  bytes_sent += from.bytes_sent;
  bytes_received += from.bytes_received;
  for (std::size_t i = 0; i < kErrorKindCount; ++i) errors[i] += from.errors[i];
  for (const auto& [error, n] : from.connect_errors) connect_errors[error] += n;
  frames_total += from.frames_total;
  cpu_user_s += from.cpu_user_s;
  cpu_system_s += from.cpu_system_s;
  connection_frames.insert(connection_frames.end(), from.connection_frames.begin(),
                           from.connection_frames.end());
  connection_max_gap_ns.insert(connection_max_gap_ns.end(), from.connection_max_gap_ns.begin(),
                               from.connection_max_gap_ns.end());
}

}  // namespace ringwire::load
