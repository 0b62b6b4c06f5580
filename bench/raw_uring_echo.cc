// raw_uring_echo: a well-written single-file io_uring framed echo server, written for comparison
// (issue 9): what the io_uring backend should reach. One ring, IORING_SETUP_SINGLE_ISSUER |
// DEFER_TASKRUN (completions run only inside the one io_uring_enter per turn that also submits),
// a multishot accept, a multishot recv per connection into one provided-buffer ring (an idle
// connection pins no buffer), and one send in flight per connection carrying everything owed.
// No services, limits, timers, counters or drain: only what an echo needs.
//
//   raw_uring_echo [--port N] [--max-frame BYTES]
//       --port 0 (the default) picks a free port; prints "listening on 127.0.0.1:PORT" once
//       ready and serves until killed. A frame announcing more than --max-frame (default 16 MiB)
//       closes its connection.
//
// One connection's buffer, as raw_epoll_echo's:
//
//   0        sent           decoded              received        capacity
//   | (free) | owed replies | partial frame      | free tail ... |
//
// Each receive completion's bytes are copied from its provided buffer to the free tail (the
// buffer goes back to the ring at once), whole frames are decoded, and if no send is in flight
// every owed byte goes out in one send from the buffer. While a send is in flight the buffer does
// not move: growing it keeps the old one alive until that send completes. Above kMaxOwed unsent
// bytes the receive is cancelled, and armed again once the sends catch up. A connection is freed
// once its socket is closed and none of its operations is still in the kernel.

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

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

constexpr std::size_t kInitialBuffer = 64 * 1024;
constexpr std::size_t kMaxOwed = 1024 * 1024;  // cancel the receive above this much unsent output
constexpr unsigned kQueueDepth = 4096;
constexpr unsigned kCompletionQueueDepth = 32768;
constexpr unsigned kBufferCount = 1024;  // provided buffers, as the io_uring backend's
constexpr std::size_t kBufferSize = 8 * 1024;
constexpr int kListenBacklog = 4096;

// A request's user_data: op (8 bits) | generation (24) | fd (32).
enum Op : std::uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kIgnored = 4 };
std::uint64_t tag(Op op, std::uint32_t generation, int fd) {
  return (std::uint64_t{op} << 56) | (std::uint64_t{generation & 0xffffffu} << 32) |
         static_cast<std::uint32_t>(fd);
}

struct Connection {
  int fd = -1;
  std::uint32_t generation = 0;
  bool receiving = false;     // the multishot recv is armed
  bool stopping = false;      // and its cancel is on its way
  bool finishing = false;     // EOF or a frame over the limit: send what is owed, then close
  bool closed = false;        // the socket is closed: freed once nothing is in flight
  std::size_t in_flight = 0;  // bytes of the send in flight (0: none)
  std::size_t capacity = kInitialBuffer;
  std::size_t sent = 0;
  std::size_t decoded = 0;
  std::size_t received = 0;
  std::unique_ptr<std::byte[]> buffer = std::make_unique_for_overwrite<std::byte[]>(kInitialBuffer);
  std::vector<std::unique_ptr<std::byte[]>> retired;  // outgrown while a send read from them

  std::size_t owed() const { return decoded - sent; }
};

class Server {
 public:
  Server(int listener, std::uint32_t max_frame) : listener_(listener), max_frame_(max_frame) {}

  int run() {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
                   IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = kCompletionQueueDepth;
    if (const int rc = ::io_uring_queue_init_params(kQueueDepth, &ring_, &params); rc < 0) {
      std::fprintf(stderr, "raw_uring_echo: io_uring_queue_init: %s\n", std::strerror(-rc));
      return 1;
    }
    ::io_uring_register_ring_fd(&ring_);
    if (!setup_buffers()) return 1;
    arm_accept();
    for (;;) {
      if (const int rc = ::io_uring_submit_and_wait(&ring_, 1); rc < 0 && rc != -EINTR) {
        std::fprintf(stderr, "raw_uring_echo: io_uring_submit_and_wait: %s\n", std::strerror(-rc));
        return 1;
      }
      unsigned head;
      unsigned seen = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        on_completion(*cqe);
      }
      ::io_uring_cq_advance(&ring_, seen);
      if (returned_ > 0) {  // the buffers lent to this batch go back in one store
        ::io_uring_buf_ring_advance(buffers_, returned_);
        returned_ = 0;
      }
    }
  }

 private:
  bool setup_buffers() {
    const std::size_t ring_size = kBufferCount * sizeof(io_uring_buf);
    void* memory = ::mmap(nullptr, ring_size + kBufferCount * kBufferSize, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      std::perror("raw_uring_echo: mmap");
      return false;
    }
    buffers_ = static_cast<io_uring_buf_ring*>(memory);
    buffer_base_ = static_cast<std::byte*>(memory) + ring_size;
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(buffers_);
    reg.ring_entries = kBufferCount;
    reg.bgid = 0;
    if (const int rc = ::io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
      std::fprintf(stderr, "raw_uring_echo: io_uring_register_buf_ring: %s\n", std::strerror(-rc));
      return false;
    }
    ::io_uring_buf_ring_init(buffers_);
    for (unsigned id = 0; id < kBufferCount; ++id) give_back(static_cast<std::uint16_t>(id));
    ::io_uring_buf_ring_advance(buffers_, returned_);
    returned_ = 0;
    return true;
  }

  void give_back(std::uint16_t id) {
    ::io_uring_buf_ring_add(buffers_, buffer_base_ + std::size_t{id} * kBufferSize, kBufferSize, id,
                            ::io_uring_buf_ring_mask(kBufferCount), returned_++);
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* entry = ::io_uring_get_sqe(&ring_);
    if (entry == nullptr) {  // full: hand what is queued over now
      ::io_uring_submit(&ring_);
      entry = ::io_uring_get_sqe(&ring_);
    }
    return entry;
  }

  void arm_accept() {
    io_uring_sqe* entry = sqe();
    ::io_uring_prep_multishot_accept(entry, listener_, nullptr, nullptr,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::io_uring_sqe_set_data64(entry, tag(kAccept, 0, listener_));
  }

  void arm_recv(Connection* c) {
    io_uring_sqe* entry = sqe();
    ::io_uring_prep_recv_multishot(entry, c->fd, nullptr, 0, 0);
    entry->flags |= IOSQE_BUFFER_SELECT;
    entry->buf_group = 0;
    ::io_uring_sqe_set_data64(entry, tag(kRecv, c->generation, c->fd));
    c->receiving = true;
  }

  void send(Connection* c) {
    c->in_flight = c->owed();
    io_uring_sqe* entry = sqe();
    ::io_uring_prep_send(entry, c->fd, c->buffer.get() + c->sent, c->in_flight, MSG_NOSIGNAL);
    ::io_uring_sqe_set_data64(entry, tag(kSend, c->generation, c->fd));
  }

  void on_completion(const io_uring_cqe& cqe) {
    const std::uint64_t data = ::io_uring_cqe_get_data64(&cqe);
    const auto op = static_cast<Op>(data >> 56);
    const std::byte* bytes = nullptr;
    if ((cqe.flags & IORING_CQE_F_BUFFER) != 0) {
      const auto id = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
      bytes = buffer_base_ + std::size_t{id} * kBufferSize;
      give_back(id);  // visible to the kernel after this batch
    }
    if (op == kAccept) return on_accept(cqe);
    if (op == kIgnored) return;
    const auto fd = static_cast<std::size_t>(data & 0xffffffffu);
    const auto generation = static_cast<std::uint32_t>(data >> 32) & 0xffffffu;
    if (fd >= connections_.size() || !connections_[fd] ||
        (connections_[fd]->generation & 0xffffffu) != generation) {
      return;
    }
    Connection* c = connections_[fd].get();
    if (op == kRecv) {
      on_received(c, cqe, bytes);
    } else {
      on_sent(c, cqe.res);
    }
    if (!c->closed) settle(c);
    if (c->closed) release_if_done(c);  // c is gone after this
  }

  void on_accept(const io_uring_cqe& cqe) {
    if (cqe.res >= 0) {
      const int fd = cqe.res;
      const int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      const auto slot = static_cast<std::size_t>(fd);
      if (connections_.size() <= slot) connections_.resize(slot + 1);
      // (A closed connection waiting for its cancelled operations still holds its fd number.)
      connections_[slot] = std::make_unique<Connection>();
      connections_[slot]->fd = fd;
      connections_[slot]->generation = ++generation_;
      arm_recv(connections_[slot].get());
    }
    // Any error ends the multishot accept (out of descriptors: it is simply tried again here,
    // a bench peer does not shed).
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) arm_accept();
  }

  void on_received(Connection* c, const io_uring_cqe& cqe, const std::byte* bytes) {
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) c->receiving = c->stopping = false;
    if (c->closed) return;
    if (cqe.res == 0) {
      c->finishing = true;
    } else if (cqe.res < 0) {
      if (cqe.res != -ENOBUFS && cqe.res != -ECANCELED) close_connection(c);
    } else if (!c->finishing) {
      const auto n = static_cast<std::size_t>(cqe.res);
      make_room(c, n);
      std::memcpy(c->buffer.get() + c->received, bytes, n);
      c->received += n;
      if (!decode(c)) {  // a frame over the limit: the whole frames before it are still owed
        c->finishing = true;
        c->received = c->decoded;
      }
    }
  }

  void on_sent(Connection* c, int result) {
    c->in_flight = 0;
    c->retired.clear();
    if (c->closed) return;
    if (result <= 0) return close_connection(c);
    c->sent += static_cast<std::size_t>(result);  // a short send leaves the rest owed: sent on
    if (c->sent == c->received) c->sent = c->decoded = c->received = 0;  // empty: start over
  }

  // The next send and receive from the connection's state, or its close.
  void settle(Connection* c) {
    if (c->in_flight == 0 && c->owed() > 0) send(c);
    if (c->finishing) {
      if (c->owed() == 0 && c->in_flight == 0) close_connection(c);
      return;
    }
    const bool wanted = c->owed() <= kMaxOwed;
    if (wanted && !c->receiving) {
      arm_recv(c);
    } else if (!wanted && c->receiving && !c->stopping) {
      io_uring_sqe* entry = sqe();
      ::io_uring_prep_cancel64(entry, tag(kRecv, c->generation, c->fd), 0);
      ::io_uring_sqe_set_data64(entry, tag(kIgnored, 0, 0));
      c->stopping = true;
    }
  }

  // Room for n more bytes at the tail: moves the owed bytes down (no send in flight), else grows.
  void make_room(Connection* c, std::size_t n) {
    if (c->capacity - c->received >= n) return;
    if (c->in_flight == 0 && c->sent > 0) {
      std::memmove(c->buffer.get(), c->buffer.get() + c->sent, c->received - c->sent);
      c->decoded -= c->sent;
      c->received -= c->sent;
      c->sent = 0;
      if (c->capacity - c->received >= n) return;
    }
    std::size_t capacity = 2 * c->capacity;
    while (capacity - c->received < n) capacity *= 2;
    auto larger = std::make_unique_for_overwrite<std::byte[]>(capacity);
    std::memcpy(larger.get(), c->buffer.get(), c->received);
    if (c->in_flight > 0) c->retired.push_back(std::move(c->buffer));
    c->buffer = std::move(larger);
    c->capacity = capacity;
  }

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

  // The peer sees the close at once (shutdown); what is in the kernel is cancelled (a multishot
  // recv outlives close()), and the socket and buffer go once the last completion is in
  // (release_if_done, at the end of on_completion).
  void close_connection(Connection* c) {
    c->closed = true;
    ::shutdown(c->fd, SHUT_RDWR);
    if (c->receiving || c->in_flight > 0) {
      io_uring_sqe* entry = sqe();
      ::io_uring_prep_cancel_fd(entry, c->fd, IORING_ASYNC_CANCEL_ALL);
      ::io_uring_sqe_set_data64(entry, tag(kIgnored, 0, 0));
    }
  }

  void release_if_done(Connection* c) {
    if (c->receiving || c->in_flight > 0) return;
    const int fd = c->fd;
    ::close(fd);
    connections_[static_cast<std::size_t>(fd)].reset();
  }

  io_uring ring_{};
  int listener_;
  std::uint32_t max_frame_;
  io_uring_buf_ring* buffers_ = nullptr;
  std::byte* buffer_base_ = nullptr;
  int returned_ = 0;
  std::uint32_t generation_ = 0;
  std::vector<std::unique_ptr<Connection>> connections_;  // indexed by fd
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: raw_uring_echo [--port N] [--max-frame BYTES]\n");
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
  std::signal(SIGPIPE, SIG_IGN);

  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    std::perror("raw_uring_echo: listen");
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", unsigned{ntohs(address.sin_port)});
  std::fflush(stdout);
  return Server(listener, static_cast<std::uint32_t>(max_frame)).run();
}
