#include "support/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <system_error>

#include "ringwire/frame.h"
#include "ringwire/net.h"

namespace ringwire::test {

Bytes make_frame(std::span<const std::byte> payload) {
  Bytes frame(kFrameHeaderSize + payload.size());
  encode_frame_header(frame, static_cast<std::uint32_t>(payload.size()));
  std::copy(payload.begin(), payload.end(), frame.begin() + kFrameHeaderSize);  // empty: no-op
  return frame;
}

Bytes make_frame(std::uint32_t length, std::uint8_t fill) {
  Bytes frame(kFrameHeaderSize + length, std::byte{fill});
  encode_frame_header(frame, length);
  return frame;
}

Bytes random_payload(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  Bytes bytes(size);
  for (auto& b : bytes) b = static_cast<std::byte>(random());
  return bytes;
}

TestClient::TestClient(std::uint16_t port, const char* host, std::chrono::milliseconds timeout) {
  const SocketAddress address = resolve_address(host, port);
  socket_.reset(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket_) throw std::system_error(errno, std::generic_category(), "socket");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(socket_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  set_no_delay(socket_.get());
  if (::connect(socket_.get(), address.get(), address.length) != 0) {
    int error = errno;
    if (error == EINTR) {
      // The connect goes on in the kernel (a thread that used io_uring can see EINTR without
      // any signal): wait for it to finish, then read its outcome.
      pollfd p{socket_.get(), POLLOUT, 0};
      error = ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 ? socket_error(socket_.get())
                                                                    : ETIMEDOUT;
    }
    if (error != 0) {
      throw std::system_error(error, std::generic_category(), "connect " + address.to_string());
    }
  }
}

void TestClient::send_all(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(socket_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "send");
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

Bytes TestClient::receive_exact(std::size_t n) {
  Bytes bytes(n);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(socket_.get(), bytes.data() + got, n - got, 0);
    if (r == 0)
      throw std::runtime_error("EOF after " + std::to_string(got) + " of " + std::to_string(n) +
                               " bytes");
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "recv");
    }
    got += static_cast<std::size_t>(r);
  }
  return bytes;
}

Bytes TestClient::receive_frame() {
  const Bytes header = receive_exact(kFrameHeaderSize);
  return receive_exact(load_be32(header.data()));
}

bool TestClient::wait_closed() {
  std::byte sink[4096];
  while (true) {
    const ssize_t r = ::recv(socket_.get(), sink, sizeof sink, 0);
    if (r == 0) return true;
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno == ECONNRESET;  // EAGAIN: the timeout passed with the connection still open
    }
  }
}

void TestClient::shutdown_write() { ::shutdown(socket_.get(), SHUT_WR); }

void TestClient::reset() {
  const linger abortive{1, 0};
  if (::setsockopt(socket_.get(), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive) != 0) {
    throw std::system_error(errno, std::generic_category(), "setsockopt SO_LINGER");
  }
  socket_.reset();
}

bool echoes(TestClient& client, const Bytes& payload) {
  try {
    client.send_frame(payload);
    return client.receive_frame() == payload;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace ringwire::test
