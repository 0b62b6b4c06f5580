#include "support/counting_echo_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "ringwire/frame.h"

namespace ringwire::testing {

namespace {

using Clock = std::chrono::steady_clock;
// The rate is judged over the last kBuckets buckets (200 ms), so a client's burst of late frames
// does not look like a higher rate.
constexpr auto kBucket = std::chrono::milliseconds(50);
constexpr std::size_t kBuckets = 4;

struct Held {
  Clock::time_point due;
  std::string bytes;
};

struct Peer {
  UniqueFd fd;
  std::string input;
  std::deque<Held> output;  // replies in order; each goes once due
};

}  // namespace

CountingEchoServer::CountingEchoServer(CountingEchoOptions options) : options_(options) {
  listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (!listener_ || !wake_ ||
      ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener_.get(), 4096) != 0 ||
      ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error(std::string("CountingEchoServer: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

CountingEchoServer::~CountingEchoServer() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void CountingEchoServer::run() {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  auto watch = [&](int fd, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll.get(), op, fd, &ev);
  };
  watch(listener_.get(), EPOLLIN, EPOLL_CTL_ADD);
  watch(wake_.get(), EPOLLIN, EPOLL_CTL_ADD);
  std::map<int, Peer> peers;
  auto bucket_start = Clock::now();
  std::uint64_t bucket_frames = 0;
  std::deque<std::uint64_t> recent;  // the last kBuckets full buckets' frames
  double last_rate = 0;

  // Sends what is due; false when the peer is gone.
  auto send_due = [&](Peer& p, Clock::time_point now) {
    while (!p.output.empty() && p.output.front().due <= now) {
      std::string& bytes = p.output.front().bytes;
      const ssize_t n = ::send(p.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN;
      bytes.erase(0, static_cast<std::size_t>(n));
      if (!bytes.empty()) return true;  // the rest when the socket drains
      p.output.pop_front();
    }
    return true;
  };

  for (;;) {
    auto now = Clock::now();
    // The earliest held reply, for the wait's timeout; EPOLLOUT only while a send was partial.
    int timeout_ms = 100;
    for (auto& [fd, p] : peers) {
      if (p.output.empty()) continue;
      const auto wait =
          std::chrono::ceil<std::chrono::milliseconds>(p.output.front().due - now).count();
      timeout_ms = std::max(0, std::min<int>(timeout_ms, static_cast<int>(wait)));
    }
    epoll_event events[64];
    const int n = ::epoll_wait(epoll.get(), events, 64, timeout_ms);
    now = Clock::now();
    while (now - bucket_start >= kBucket) {
      recent.push_back(bucket_frames);
      if (recent.size() > kBuckets) recent.pop_front();
      std::uint64_t frames = 0;
      for (const auto count : recent) frames += count;
      last_rate = static_cast<double>(frames) /
                  (std::chrono::duration<double>(kBucket).count() * static_cast<double>(kBuckets));
      bucket_frames = 0;
      bucket_start += kBucket;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_.get()) return;
      if (fd == listener_.get()) {
        for (;;) {
          const int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          const int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          peers[c].fd.reset(c);
          watch(c, EPOLLIN, EPOLL_CTL_ADD);
          ++accepted_;
        }
        continue;
      }
      Peer& p = peers[fd];
      char buffer[65536];
      const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got == 0 || (got < 0 && errno != EAGAIN)) {
        peers.erase(fd);  // closes it, which also takes it out of the epoll set
        continue;
      }
      if (got > 0) p.input.append(buffer, static_cast<std::size_t>(got));
      // Whole frames become replies, held while the server is "slow".
      const bool slow = options_.slow_above_rate > 0 && last_rate > options_.slow_above_rate;
      const auto due = slow ? now + options_.slow_delay : now;
      std::size_t at = 0;
      while (p.input.size() - at >= kFrameHeaderSize) {
        const std::uint32_t length =
            load_be32(reinterpret_cast<const std::byte*>(p.input.data() + at));
        const std::size_t whole = kFrameHeaderSize + length;
        if (p.input.size() - at < whole) break;
        std::string reply = p.input.substr(at, whole);
        if (!p.output.empty() && p.output.back().due >= due) {
          p.output.back().bytes += reply;
        } else {
          p.output.push_back({due, std::move(reply)});
        }
        at += whole;
        ++bucket_frames;
        ++frames_;
      }
      p.input.erase(0, at);
    }
    for (auto it = peers.begin(); it != peers.end();) {
      if (!send_due(it->second, now)) {
        it = peers.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace ringwire::testing
