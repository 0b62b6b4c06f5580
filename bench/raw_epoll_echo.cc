// raw_epoll_echo: the floor for the native engine (DESIGN §4) — a tuned single-file framed echo
// server written for comparison: one loop, level-triggered epoll, non-blocking sockets with
// TCP_NODELAY, and per connection one plain linear buffer. No services, limits, timers, counters
// or drain: only what an echo needs, done the cheap way.
//
//   raw_epoll_echo [--port N] [--max-frame BYTES]
//       --port 0 (the default) picks a free port; prints "listening on 127.0.0.1:PORT" once
//       ready and serves until killed. A frame announcing more than --max-frame (default 16 MiB)
//       closes its connection.
//
// One connection's buffer, in the order its bytes arrived:
//
//   0        sent           decoded              received        capacity
//   | (free) | owed replies | partial frame      | free tail ... |
//            '-- whole frames, sent straight from here (no copy into an output buffer)
//
// Each readable event reads as much as the free tail takes (a read that fills it reads again, up
// to kMaxReadsPerWakeup), decodes the whole frames, and sends them in one send() unless an earlier
// send is still waiting for EPOLLOUT. A partial send keeps the rest owed and asks for EPOLLOUT,
// only until it is sent. Reading stops while more than kMaxOwed bytes are owed, or while the
// buffer is full of owed bytes; a single frame larger than the buffer doubles it. When the buffer
// empties, both marks go back to 0, so small frames never move; a partial frame is moved down
// only when the free tail gets short. Interest is remembered: epoll_ctl only on a change.
// Why level-triggered: a read that stops early (fairness, backpressure) needs no bookkeeping to
// be resumed, and a short read already tells us the socket is drained, so no read ends in EAGAIN.
//
// Cost: one Connection (about 64 bytes) plus its buffer (64 KiB, more only for a frame that does
// not fit) per connection; dispatch is a vector indexed by fd, O(1).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ringwire/frame.h"

namespace {

constexpr std::size_t kInitialBuffer = 64 * 1024;  // one read's worth, as the native engine's ring
constexpr std::size_t kMaxOwed = 1024 * 1024;      // stop reading above this much unsent output
constexpr int kMaxReadsPerWakeup = 16;             // one busy connection must not starve the rest
constexpr int kMaxAcceptsPerWakeup = 64;           // nor a connection burst the open ones
constexpr int kMaxEventsPerWait = 256;
constexpr int kListenBacklog = 4096;

// Connection: one accepted socket and its buffer. Owned by the Server's table; loop only.
struct Connection {
  int fd = -1;
  std::uint32_t interest = 0;  // what epoll has registered, so epoll_ctl runs only on a change
  bool finishing = false;      // read EOF or a frame over the limit: send what is owed, then close
  std::size_t capacity = kInitialBuffer;
  std::size_t sent = 0;      // first owed byte
  std::size_t decoded = 0;   // end of the whole frames (owed bytes end here)
  std::size_t received = 0;  // end of the bytes read
  std::unique_ptr<std::byte[]> buffer = std::make_unique_for_overwrite<std::byte[]>(kInitialBuffer);

  std::size_t owed() const { return decoded - sent; }
};

// Server: the listener, the epoll instance and every connection. One thread.
class Server {
 public:
  Server(int listener, std::uint32_t max_frame) : listener_(listener), max_frame_(max_frame) {}

  int run() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0 || !add(listener_, EPOLLIN)) {
      std::perror("raw_epoll_echo: epoll");
      return 1;
    }
    std::array<epoll_event, kMaxEventsPerWait> events{};
    for (;;) {
      const int n = ::epoll_wait(epoll_, events.data(), kMaxEventsPerWait, -1);
      if (n < 0 && errno != EINTR) {
        std::perror("raw_epoll_echo: epoll_wait");
        return 1;
      }
      for (int i = 0; i < n; ++i) {
        const epoll_event& event = events[static_cast<std::size_t>(i)];
        if (event.data.fd == listener_) {
          accept_some();
          continue;
        }
        // A connection closed earlier in this batch leaves a null slot; should accept_some()
        // have reused its fd, the new connection only sees one spurious readiness check (so an
        // error or hang-up is left for recv/send to report, never acted on from the event alone).
        Connection* c = connections_[static_cast<std::size_t>(event.data.fd)].get();
        if (c == nullptr) continue;
        const bool failed = (event.events & (EPOLLERR | EPOLLHUP)) != 0;
        if ((failed || (event.events & EPOLLOUT)) && c->owed() > 0 && !send_owed(c)) continue;
        if ((failed || (event.events & EPOLLIN)) && !on_readable(c)) continue;
        update_interest(c);
      }
    }
  }

 private:
  bool add(int fd, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    return ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) == 0;
  }

  void accept_some() {
    for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or out of descriptors: level-triggered, so we retry later
      const int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      const auto slot = static_cast<std::size_t>(fd);
      if (connections_.size() <= slot) connections_.resize(slot + 1);
      connections_[slot] = std::make_unique<Connection>();
      connections_[slot]->fd = fd;
      connections_[slot]->interest = EPOLLIN;
      if (!add(fd, EPOLLIN)) close_connection(connections_[slot].get());
    }
  }

  void close_connection(Connection* c) {
    const int fd = c->fd;
    ::close(fd);  // also removes it from the epoll set
    connections_[static_cast<std::size_t>(fd)].reset();
  }

  // Reads, decodes and echoes. False when the connection was closed.
  bool on_readable(Connection* c) {
    for (int i = 0; i < kMaxReadsPerWakeup && may_read(c); ++i) {
      if (!make_room(c)) break;
      const std::size_t room = c->capacity - c->received;
      const ssize_t n = ::recv(c->fd, c->buffer.get() + c->received, room, 0);
      if (n == 0) {
        c->finishing = true;
        break;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        close_connection(c);
        return false;
      }
      // Owed bytes left from before mean the last send found the socket full: sending now would
      // only fail, so they wait for EPOLLOUT together with the frames decoded here.
      const bool socket_full = c->owed() > 0;
      c->received += static_cast<std::size_t>(n);
      if (!decode(c)) {  // a frame over the limit: the whole frames before it are still owed
        c->finishing = true;
        c->received = c->decoded;
      }
      if (!socket_full && !send_owed(c)) return false;
      if (c->finishing || static_cast<std::size_t>(n) < room) break;  // short read: drained
    }
    if (c->finishing && c->owed() == 0) {
      close_connection(c);  // nothing more will come, and everything owed was sent
      return false;
    }
    return true;
  }

  bool may_read(const Connection* c) const { return !c->finishing && c->owed() <= kMaxOwed; }

  // Whether make_room() can find room: not when the buffer holds nothing but owed bytes.
  static bool has_room(const Connection* c) {
    return c->received - c->sent < c->capacity || c->owed() == 0;
  }

  // Free tail for the next read: moves the unsent bytes down when the tail is short, doubles the
  // buffer when one partial frame fills it. False when it is full of owed bytes.
  bool make_room(Connection* c) {
    if (c->capacity - c->received >= c->capacity / 2) return true;
    if (c->sent > 0) {
      std::memmove(c->buffer.get(), c->buffer.get() + c->sent, c->received - c->sent);
      c->decoded -= c->sent;
      c->received -= c->sent;
      c->sent = 0;
    }
    if (c->received < c->capacity) return true;
    if (c->owed() > 0) return false;  // sending makes room
    auto larger = std::make_unique_for_overwrite<std::byte[]>(2 * c->capacity);
    std::memcpy(larger.get(), c->buffer.get(), c->received);
    c->buffer = std::move(larger);
    c->capacity *= 2;
    return true;
  }

  // Moves `decoded` past every whole frame received. False on a frame over the limit.
  bool decode(Connection* c) const {
    while (c->received - c->decoded >= ringwire::kFrameHeaderSize) {
      const std::uint32_t length = ringwire::load_be32(c->buffer.get() + c->decoded);
      if (length > max_frame_) return false;
      const std::size_t size = ringwire::kFrameHeaderSize + length;
      if (c->received - c->decoded < size) break;
      c->decoded += size;
    }
    return true;
  }

  // Sends the owed bytes straight from the buffer, until they are sent or the socket is full (a
  // short send says so: no second send just to see EAGAIN). False when the connection closed.
  bool send_owed(Connection* c) {
    while (c->owed() > 0) {
      const std::size_t owed = c->owed();
      const ssize_t n = ::send(c->fd, c->buffer.get() + c->sent, owed, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        close_connection(c);
        return false;
      }
      c->sent += static_cast<std::size_t>(n);
      if (static_cast<std::size_t>(n) < owed) break;
    }
    if (c->sent == c->received) c->sent = c->decoded = c->received = 0;  // empty: start over
    if (c->finishing && c->owed() == 0) {
      close_connection(c);
      return false;
    }
    return true;
  }

  // EPOLLOUT only while bytes are owed; EPOLLIN while reading may go on.
  void update_interest(Connection* c) {
    std::uint32_t wanted = 0;
    if (may_read(c) && has_room(c)) wanted |= EPOLLIN;
    if (c->owed() > 0) wanted |= EPOLLOUT;
    if (wanted == c->interest) return;
    epoll_event event{};
    event.events = wanted;
    event.data.fd = c->fd;
    if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, c->fd, &event) != 0) return close_connection(c);
    c->interest = wanted;
  }

  int listener_;
  int epoll_ = -1;
  std::uint32_t max_frame_;
  std::vector<std::unique_ptr<Connection>> connections_;  // indexed by fd
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: raw_epoll_echo [--port N] [--max-frame BYTES]\n");
  std::exit(2);
}

unsigned long parse_number(const char* text, unsigned long max) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value > max) usage();
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0;
  unsigned long max_frame = ringwire::kDefaultMaxFrame;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage();
    if (flag == "--port") {
      port = parse_number(argv[i + 1], 65535);
    } else if (flag == "--max-frame") {
      max_frame = parse_number(argv[i + 1], 0xffffffffUL);
    } else {
      usage();
    }
  }
  std::signal(SIGPIPE, SIG_IGN);  // sends use MSG_NOSIGNAL; this covers anything else

  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int on = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 ||
      ::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, kListenBacklog) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("raw_epoll_echo: listen");
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", unsigned{ntohs(address.sin_port)});
  std::fflush(stdout);
  return Server(listener, static_cast<std::uint32_t>(max_frame)).run();
}
