#pragma once
// CountingEchoServer: a framed echo server for the load generator's tests that counts what it
// saw (connections accepted, frames echoed) and can turn slow above a known rate, so a test knows
// exactly where the knee is. One thread, one epoll, non-blocking loopback sockets. Construct and
// destroy on one thread; the destructor stops and joins the server thread. The counters may be
// read from any thread.
//
// Slow mode: frames are counted in 50 ms buckets; while the last 4 full buckets' rate is above
// `slow_above_rate`, every reply is held for `slow_delay` (in order: a connection's later replies
// wait behind its held ones).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "ringwire/unique_fd.h"

namespace ringwire::testing {

struct CountingEchoOptions {
  double slow_above_rate = 0;  // frames/s; 0: never slow
  std::chrono::milliseconds slow_delay{5};
};

class CountingEchoServer {
 public:
  explicit CountingEchoServer(CountingEchoOptions options = {});
  ~CountingEchoServer();
  CountingEchoServer(const CountingEchoServer&) = delete;
  CountingEchoServer& operator=(const CountingEchoServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t accepted() const { return accepted_.load(); }
  std::uint64_t frames() const { return frames_.load(); }

 private:
  void run();

  CountingEchoOptions options_;
  UniqueFd listener_;
  UniqueFd wake_;  // eventfd: the destructor's stop signal
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> frames_{0};
  std::thread thread_;
};

}  // namespace ringwire::testing
