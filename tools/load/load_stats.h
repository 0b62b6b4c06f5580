#pragma once
// ThreadStats: what one load thread measures. Owned by its Worker and written only by that
// worker's loop thread; read by the controlling thread after the worker's thread has ended (and
// through posted snapshots while it runs). Merged exactly across threads into a LoadResult.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "ringwire/histogram.h"

namespace ringwire::load {

// The one clock of the load generator: CLOCK_MONOTONIC (vDSO, ~20 ns a read), in nanoseconds.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Every kind of failure the generator counts. Connect failures are also counted by errno.
enum class ErrorKind : std::uint8_t {
  kReplyLength,      // a reply of the wrong length
  kReplySequence,    // a reply answering another request than the oldest in flight (reordered)
  kReplyContent,     // a reply whose bytes differ from the request's (corrupted)
  kReplyUnexpected,  // a reply with no request in flight
  kReplyTooLarge,    // a reply length over --max-frame (the connection is closed)
  kPeerClosed,       // the server closed a connection during the run
  kSocketError,      // send/recv failed (ECONNRESET...)
  kConnectFailed,    // connect failed (see connect_errors by errno)
  kConnectTimeout,   // still connecting when the run started
  kQueueOverflow,    // open loop: a connection's queue of due frames hit its bound; frame skipped
};
inline constexpr std::size_t kErrorKindCount = 10;
std::string_view to_string(ErrorKind kind);

struct ThreadStats {
  Histogram latency;            // open loop: from the scheduled send time; closed loop: from send
  Histogram latency_from_send;  // from the time the frame was handed to send()
  Histogram send_lateness;      // open loop: actual send minus scheduled send
  Histogram schedule_lag;       // open loop: when the frame was issued minus scheduled (client lag)
  Histogram connect_latency;    // connect() to connected, every connection (not windowed)
  Histogram live;               // the live line's interval histogram (reset each second)
  Histogram logged;  // --hist-log: `latency`'s samples since the last snapshot (reset each second)
  Histogram first_reply;  // --churn: connect() to the first reply, per connection (window)

  // Inside the measurement window:
  std::uint64_t frames_completed = 0;  // replies received and checked
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::array<std::uint64_t, kErrorKindCount> errors{};  // the whole run, not windowed
  std::map<int, std::uint64_t> connect_errors;          // errno -> count (rare: a map is fine)
  std::map<int, std::uint64_t> socket_errors;           // send/recv failures: errno -> count
  std::uint64_t connections_established = 0;  // the run's connections (not churn's reconnects)
  std::uint64_t churn_cycles = 0;   // --churn: connections that completed their frames (window)
  std::uint64_t reconnects = 0;     // --reconnect: graceful closes by the server (the whole run)
  std::uint64_t frames_resent = 0;  // ... and the unanswered frames re-sent after them

  // For the live line: since the start, every frame completed (or sent, for discard).
  std::uint64_t frames_total = 0;
  std::uint64_t connections_open = 0;

  // CPU time this thread spent inside the window (getrusage(RUSAGE_THREAD)), seconds.
  double cpu_user_s = 0;
  double cpu_system_s = 0;

  // Per connection, inside the window: frames completed, and the longest time without progress.
  std::vector<std::uint64_t> connection_frames;
  std::vector<std::int64_t> connection_max_gap_ns;

  void count(ErrorKind kind, std::uint64_t n = 1) { errors[static_cast<std::size_t>(kind)] += n; }
  std::uint64_t error_total() const;
  // Adds `from` (another thread's, or another run's): histograms merged exactly, counts summed,
  // per-connection vectors concatenated. The live histogram is left alone.
  void merge(const ThreadStats& from);
};

// What the live line needs from one thread, copied on its loop thread once a second.
struct LiveSnapshot {
  Histogram live;    // latencies recorded since the previous snapshot
  Histogram logged;  // --hist-log: the window's latencies since the previous snapshot
  std::uint64_t frames_total = 0;
  std::uint64_t errors = 0;
  std::uint64_t connections_open = 0;
};

}  // namespace ringwire::load
