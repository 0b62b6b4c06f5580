#pragma once
// TestClient: a blocking loopback client for tests, written from the protocol alone. Every receive
// is bounded by a deadline (SO_RCVTIMEO), so a test that waits for a reply that never comes fails
// instead of hanging. Owns its socket; one thread at a time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringwire/unique_fd.h"

namespace ringwire::test {

using Bytes = std::vector<std::byte>;

Bytes make_frame(std::span<const std::byte> payload);
Bytes make_frame(std::uint32_t length, std::uint8_t fill);
Bytes random_payload(std::size_t size, std::uint64_t seed);

class TestClient {
 public:
  static constexpr std::chrono::seconds kDefaultTimeout{20};

  explicit TestClient(std::uint16_t port, const char* host = "127.0.0.1",
                      std::chrono::milliseconds timeout = kDefaultTimeout);
  int fd() const { return socket_.get(); }

  void send_all(std::span<const std::byte> bytes);
  void send_frame(std::span<const std::byte> payload) { send_all(make_frame(payload)); }
  // Exactly n bytes; throws on timeout or EOF.
  Bytes receive_exact(std::size_t n);
  // One whole frame's payload.
  Bytes receive_frame();
  // True when the server closed the connection (EOF or reset) before the timeout.
  bool wait_closed();
  void shutdown_write();
  void close() { socket_.reset(); }
  // Closes with a reset (RST, SO_LINGER 0) instead of a FIN, dropping anything unsent.
  void reset();

 private:
  UniqueFd socket_;
};

// Sends `payload` as a frame and reads one back: true when it is the same (false on a close, a
// reset or a timeout: how a client sees a shed connection).
bool echoes(TestClient& client, const Bytes& payload);

}  // namespace ringwire::test
