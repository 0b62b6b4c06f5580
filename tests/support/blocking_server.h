#pragma once
// BlockingServer: a deliberately plain framed server for testing the load generator against
// known faults. Owns its listening socket (loopback, ephemeral port), one accept thread and one
// thread per connection, all with blocking sockets. Construct and destroy on one thread; the
// destructor stops and joins everything.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "ringwire/unique_fd.h"

namespace ringwire::testing {

enum class ServerFault : std::uint8_t {
  kNone,         // a correct echo server
  kCorruptByte,  // flips the last byte of every `corrupt_every`-th reply
  kReorder,      // answers each pair of frames in the wrong order
  kStall,        // stops reading for `stall_for` at the start of every `stall_every`
  kDrainAfter,   // after `drain_after` frames on a connection, closes it as a draining server
                 // does: shuts its write side, then reads (unanswered) until the client closes
};

struct BlockingServerOptions {
  ServerFault fault = ServerFault::kNone;
  std::uint64_t corrupt_every = 100;
  std::chrono::milliseconds stall_every{1000};
  std::chrono::milliseconds stall_for{200};
  std::uint64_t drain_after = 50;
};

class BlockingServer {
 public:
  explicit BlockingServer(BlockingServerOptions options = {});
  ~BlockingServer();
  BlockingServer(const BlockingServer&) = delete;
  BlockingServer& operator=(const BlockingServer&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  void accept_loop();
  void serve(int fd);

  BlockingServerOptions options_;
  UniqueFd listener_;
  std::uint16_t port_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<UniqueFd> connections_;  // guarded by mutex_ (shut down to unblock their threads)
  std::vector<std::thread> threads_;   // guarded by mutex_
  std::thread acceptor_;
};

}  // namespace ringwire::testing
