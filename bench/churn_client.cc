// churn_client: accept churn for bench/e2e.py's `churn` case — many connections at once, each
// living for one echo: connect, send one frame, read its echo, close; then the slot connects
// again. One thread, epoll, non-blocking sockets.
//
//   churn_client --port N [--connections C] [--size B] [--duration S] [--warmup S] [--json FILE]
//
// Each close is a reset (SO_LINGER 0), as floor_pair's --reconnect: a FIN close would leave every
// connection in TIME_WAIT on this side and run out of ephemeral ports within seconds at these
// rates. A connection counts once its echo is back whole; the latency is connect() to the echo's
// last byte. The JSON has e2e.py's fields: frames_per_s (= connections per second), latency_us
// p50/p99, errors (connections refused, reset or short before their echo).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Slot {
  int fd = -1;
  Clock::time_point started;
  std::size_t sent = 0;
  std::size_t received = 0;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: churn_client --port N [--connections C] [--size B] [--duration S] "
               "[--warmup S] [--json FILE]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::size_t connections = 64;
  std::size_t size = 64;
  double duration = 5;
  double warmup = 1;
  std::string json;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) usage();
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--port")
      port = std::atoi(value);
    else if (flag == "--connections")
      connections = std::strtoul(value, nullptr, 10);
    else if (flag == "--size")
      size = std::strtoul(value, nullptr, 10);
    else if (flag == "--duration")
      duration = std::atof(value);
    else if (flag == "--warmup")
      warmup = std::atof(value);
    else if (flag == "--json")
      json = value;
    else
      usage();
  }
  if (port <= 0 || connections == 0) usage();

  std::vector<unsigned char> frame(4 + size, 0);
  const auto length = htonl(static_cast<std::uint32_t>(size));
  std::memcpy(frame.data(), &length, 4);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Slot> slots(connections);
  std::vector<std::uint32_t> latencies_ns;
  std::uint64_t done = 0;
  std::uint64_t errors = 0;
  bool measuring = false;
  std::vector<unsigned char> reply(frame.size());

  auto open_slot = [&](std::size_t i) {
    Slot& s = slots[i];
    s = Slot{};
    s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int on = 1;
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    s.started = Clock::now();
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
        errno != EINPROGRESS) {
      std::perror("churn_client: connect");
      std::exit(1);
    }
    epoll_event event{};
    event.events = EPOLLOUT | EPOLLIN;
    event.data.u64 = i;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, s.fd, &event);
  };
  auto close_slot = [&](std::size_t i, bool ok) {
    Slot& s = slots[i];
    const linger reset{1, 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(s.fd);  // also leaves the epoll set
    if (measuring) {
      if (ok) {
        ++done;
        latencies_ns.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s.started).count(),
            0xffffffff)));
      } else {
        ++errors;
      }
    }
    open_slot(i);
  };

  for (std::size_t i = 0; i < connections; ++i) open_slot(i);
  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::duration<double>(warmup);
  const auto measure_to = measure_from + std::chrono::duration<double>(duration);
  Clock::time_point measured_from;
  std::vector<epoll_event> events(256);
  for (;;) {
    const auto now = Clock::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      measured_from = now;
    }
    if (now >= measure_to) break;
    const int n = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 100);
    for (int k = 0; k < n; ++k) {
      const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
      Slot& s = slots[i];
      if (events[static_cast<std::size_t>(k)].events & (EPOLLERR | EPOLLHUP)) {
        close_slot(i, false);
        continue;
      }
      if (s.sent < frame.size() && (events[static_cast<std::size_t>(k)].events & EPOLLOUT)) {
        const ssize_t w = ::send(s.fd, frame.data() + s.sent, frame.size() - s.sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
          close_slot(i, false);
          continue;
        }
        if (w > 0) s.sent += static_cast<std::size_t>(w);
        if (s.sent == frame.size()) {
          epoll_event event{};
          event.events = EPOLLIN;
          event.data.u64 = i;
          ::epoll_ctl(epoll, EPOLL_CTL_MOD, s.fd, &event);
        }
      }
      if (events[static_cast<std::size_t>(k)].events & EPOLLIN) {
        const ssize_t r = ::recv(s.fd, reply.data(), reply.size() - s.received, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          close_slot(i, false);
          continue;
        }
        if (r > 0) s.received += static_cast<std::size_t>(r);
        if (s.received == frame.size()) close_slot(i, true);
      }
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - measured_from).count();
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto percentile = [&](double p) {
    if (latencies_ns.empty()) return 0.0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(latencies_ns.size() - 1));
    return latencies_ns[index] / 1000.0;
  };
  const double rate = static_cast<double>(done) / seconds;
  std::printf("%.0f connections/s (one echo each), p50 %.1f us, p99 %.1f us, %llu errors\n", rate,
              percentile(0.5), percentile(0.99), static_cast<unsigned long long>(errors));
  if (!json.empty()) {
    if (FILE* f = std::fopen(json.c_str(), "w")) {
      std::fprintf(f,
                   "{\"frames_per_s\": %.1f, \"connections_per_s\": %.1f, \"errors\": %llu, "
                   "\"latency_us\": {\"p50\": %.1f, \"p99\": %.1f}}\n",
                   rate, rate, static_cast<unsigned long long>(errors), percentile(0.5),
                   percentile(0.99));
      std::fclose(f);
    }
  }
  return 0;
}
