#include "support/blocking_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>
#include <utility>

#include "ringwire/frame.h"
#include "ringwire/net.h"

namespace ringwire::testing {

namespace {

// Reads one whole frame (header included) into `frame`; false at EOF or error.
bool read_frame(int fd, std::vector<std::byte>& frame) {
  frame.resize(kFrameHeaderSize);
  if (!read_exact(fd, std::span(frame).first(kFrameHeaderSize))) return false;
  const std::uint32_t length = load_be32(frame.data());
  if (length > kDefaultMaxFrame) return false;
  frame.resize(kFrameHeaderSize + length);
  return read_exact(fd, std::span(frame).subspan(kFrameHeaderSize, length));
}

}  // namespace

BlockingServer::BlockingServer(BlockingServerOptions options) : options_(options) {
  listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (!listener_ || ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener_.get(), 128) != 0 ||
      ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error(std::string("BlockingServer: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

BlockingServer::~BlockingServer() {
  stopping_ = true;
  ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (auto& fd : connections_) ::shutdown(fd.get(), SHUT_RDWR);  // wakes recv()/send()
    threads = std::move(threads_);
  }
  for (auto& thread : threads) thread.join();
}

void BlockingServer::accept_loop() {
  while (!stopping_) {
    const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mutex_);
    connections_.emplace_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void BlockingServer::serve(int fd) {
  std::vector<std::byte> frame;
  std::vector<std::byte> held;  // kReorder: the first frame of a pair, answered second
  std::uint64_t frames = 0;
  while (!stopping_) {
    if (options_.fault == ServerFault::kStall) {
      // Stalled for the first stall_for of every stall_every since the server started.
      const auto since = std::chrono::steady_clock::now() - started_;
      const auto into_period = since % options_.stall_every;
      if (into_period < options_.stall_for)
        std::this_thread::sleep_for(options_.stall_for - into_period);
    }
    if (!read_frame(fd, frame)) return;
    ++frames;
    switch (options_.fault) {
      case ServerFault::kCorruptByte:
        if (frames % options_.corrupt_every == 0 && frame.size() > kFrameHeaderSize) {
          frame.back() ^= std::byte{0x01};
        }
        break;
      case ServerFault::kReorder:
        if (held.empty()) {
          held = frame;
          continue;
        }
        if (!write_all(fd, frame)) return;
        frame = std::exchange(held, {});
        break;
      default:
        break;
    }
    if (!write_all(fd, frame)) return;
    if (options_.fault == ServerFault::kDrainAfter && frames == options_.drain_after) {
      ::shutdown(fd, SHUT_WR);
      while (read_frame(fd, frame)) {
      }
      return;
    }
  }
}

}  // namespace ringwire::testing
