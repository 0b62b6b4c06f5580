#pragma once
// Counters of one loop. Written only by that loop's thread (a plain load and store, no locked
// instruction), read by any thread (metrics, tests, the drain report).

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace ringwire {

class Counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  void set(std::uint64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Why a connection was closed. Every close has exactly one reason, and each is counted.
enum class CloseReason : std::uint8_t {
  kPeerClosed,      // the peer finished (EOF) and every reply owed was sent
  kPeerReset,       // the peer reset the connection or the socket failed
  kProtocolError,   // a frame broke the protocol (oversized length, bad request)
  kIdleTimeout,     // no frame completed within --idle-timeout
  kDrained,         // graceful drain: closed once quiet
  kDrainTimeout,    // graceful drain: still busy when --drain-timeout passed (cut off)
  kMaxConnections,  // accepted past --max-connections and closed at once
  kOutOfMemory,     // no ring buffer could be mapped for it
  kShutdown,        // the server stopped without draining
  kServiceError,    // the service threw on a frame
};
inline constexpr std::size_t kCloseReasonCount = 10;
std::string_view to_string(CloseReason reason);

struct LoopStats {
  Counter connections_accepted;
  Counter connections_open;
  std::array<Counter, kCloseReasonCount> closed;  // indexed by CloseReason
  Counter frames_received;
  Counter bytes_received;
  Counter bytes_sent;
  Counter frames_oversized;        // a length over max-frame (also a kProtocolError close)
  Counter trailing_bytes_dropped;  // bytes of an incomplete last frame at EOF or close
  Counter backpressure_pauses;     // times reading stopped because unsent output was too high
  Counter accept_errors;           // failed accepts (EMFILE, ENFILE, ENOBUFS...)
  Counter accept_pauses;           // times accepting was paused for lack of descriptors
  Counter connections_shed;        // accepted and closed at once for lack of descriptors
  Counter ring_bytes_lent;         // gauge: ring capacity held by connections now
  Counter frames_passed_through;   // large echoed frames moved with splice(2), not through a ring
  Counter pass_through_spills;     // of those, moved back to a ring (their pipe ran out of slots)

  void count_close(CloseReason reason) { closed[static_cast<std::size_t>(reason)].add(); }
  std::uint64_t closed_for(CloseReason reason) const {
    return closed[static_cast<std::size_t>(reason)].get();
  }
};

}  // namespace ringwire
