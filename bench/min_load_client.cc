// min_load_client: the peer of ringwire-load (issue 10) — a minimal single-file framed-echo load
// client written for comparison, the way raw_epoll_echo is the server's. One thread, one
// level-triggered epoll, non-blocking sockets with TCP_NODELAY, a linear buffer each way per
// connection. No library of the project: only what measuring an echo needs, done the cheap way.
//
//   min_load_client --port N [--host 127.0.0.1] [--connections 16] [--depth 1] [--size 64]
//                   [--rate FRAMES_PER_S] [--duration S] [--warmup S]
//
// Closed loop (no --rate): each connection keeps --depth frames in flight. Open loop (--rate R):
// connection g of C sends its n-th frame at start + (g + n*C)/R seconds (the same schedule as
// ringwire-load's), whatever came back; the loop sleeps to the next due time with a nanosecond
// timeout (epoll_pwait2, timer slack 1 ns), sends every due frame on each wake-up, a
// connection's due frames in one send(), and counts latency from each frame's scheduled time.
// --depth caps the frames in flight per connection (open loop default: no cap).
//
// Every reply is checked whole: length, the 8-byte sequence, the 8-byte send time and the
// pattern, with one memcmp against the request rebuilt from the sequence and its recorded time.
// Latency goes into a log-linear histogram with 2048 exact sub-buckets per doubling (3
// significant digits, as HdrHistogram with 3 digits).
//
// Prints one line of key=value fields on stdout after the run: frames_per_s (replies checked per
// second of the window), p50/p90/p99/p999/max in µs, errors, cpu_ns_per_frame (user + system of
// the whole process over the window), achieved send rate, late frames. Exit 1 if any reply failed
// its check or a connection failed.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kBufferBytes = 256 * 1024;
constexpr int kMaxEvents = 256;

std::int64_t now_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// 2048 exact sub-buckets below 2048, then 1024 per doubling: values known to 1/1024.
struct Histogram {
  static constexpr unsigned kSubBits = 11;
  std::vector<std::uint64_t> counts = std::vector<std::uint64_t>((64 - kSubBits + 2) << 10);
  std::uint64_t total = 0;
  std::uint64_t max = 0;

  static std::size_t index_of(std::uint64_t v) {
    const unsigned bucket =
        static_cast<unsigned>(63 - __builtin_clzll(v | ((1u << kSubBits) - 1))) - (kSubBits - 1);
    return (std::size_t{bucket} << (kSubBits - 1)) + static_cast<std::size_t>(v >> bucket);
  }
  static std::uint64_t highest_of(std::size_t i) {
    const std::size_t bucket = i < (1u << kSubBits) ? 0 : (i >> (kSubBits - 1)) - 1;
    const std::size_t sub = i - (bucket << (kSubBits - 1));
    return ((std::uint64_t{sub} + 1) << bucket) - 1;
  }
  void record(std::uint64_t v) {
    ++counts[index_of(v)];
    ++total;
    if (v > max) max = v;
  }
  std::uint64_t percentile(double p) const {
    if (total == 0) return 0;
    auto want = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(total) + 0.5);
    if (want < 1) want = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      seen += counts[i];
      if (seen >= want) return highest_of(i) < max ? highest_of(i) : max;
    }
    return max;
  }
};

struct Options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  std::size_t connections = 16;
  std::size_t depth = 0;  // 0: 1 for closed loop, no cap for open loop
  std::size_t size = 64;
  double rate = 0;
  double duration = 5;
  double warmup = 1;
};

// One connection. Its requests in flight (and, open loop, due but unsent) are a ring of
// {scheduled, sent} times; the reply to the oldest sent one is the next to arrive.
struct Connection {
  int fd = -1;
  std::uint64_t send_seq = 0;
  std::uint64_t reply_seq = 0;
  std::vector<std::int64_t> scheduled;  // ring
  std::vector<std::int64_t> sent;       // ring
  std::size_t head = 0, sent_end = 0, tail = 0;
  std::vector<unsigned char> in = std::vector<unsigned char>(kBufferBytes);
  std::size_t in_len = 0;
  std::vector<unsigned char> out = std::vector<unsigned char>(kBufferBytes);
  std::size_t out_head = 0, out_len = 0;
  bool want_out = false;
  bool touched = false;

  std::size_t in_flight() const { return sent_end - head; }
  std::size_t pending() const { return tail - sent_end; }
  void push(std::int64_t when) {
    if (tail - head == scheduled.size()) {
      const std::size_t grown = scheduled.empty() ? 64 : scheduled.size() * 2;
      std::vector<std::int64_t> s(grown), t(grown);
      for (std::size_t i = head; i < tail; ++i) {
        s[i - head] = scheduled[i % scheduled.size()];
        t[i - head] = sent[i % sent.size()];
      }
      sent_end -= head;
      tail -= head;
      head = 0;
      scheduled.swap(s);
      sent.swap(t);
    }
    scheduled[tail % scheduled.size()] = when;
    ++tail;
  }
};

void put_be64(unsigned char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v & 0xff);
}

class Client {
 public:
  explicit Client(const Options& o) : o_(o) {
    pattern_.resize(o.size);
    for (std::size_t i = 0; i < o.size; ++i) {
      pattern_[i] = static_cast<unsigned char>((i * 131 + 7) & 0xff);
    }
    expected_.resize(4 + o.size);
  }

  int run() {
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (!connect_all()) return 1;
    const std::int64_t start = now_ns() + 10'000'000;
    window_start_ = start + static_cast<std::int64_t>(o_.warmup * 1e9);
    window_end_ = window_start_ + static_cast<std::int64_t>(o_.duration * 1e9);
    period_ns_ = o_.rate > 0 ? 1e9 / o_.rate : 0;
    schedule_start_ = start;
    due_count_.assign(conns_.size(), 0);
    while (now_ns() < start) {
    }
    if (o_.rate <= 0) {
      for (auto& c : conns_) fill_closed(c, now_ns());
    }
    bool window_open = false;
    double cpu_start = 0;
    epoll_event events[kMaxEvents];
    for (;;) {
      std::int64_t now = now_ns();
      if (!window_open && now >= window_start_) {
        window_open = true;
        cpu_start = cpu_seconds();
      }
      if (now >= window_end_) break;
      std::int64_t wake = window_open ? window_end_ : window_start_;
      if (o_.rate > 0) {
        run_schedule(now);
        const std::int64_t next = next_due();
        if (next < wake) wake = next;
      }
      const std::int64_t wait = wake - now_ns();
      timespec timeout{wait > 0 ? wait / 1'000'000'000 : 0, wait > 0 ? wait % 1'000'000'000 : 0};
      const int n = ::epoll_pwait2(epoll_, events, kMaxEvents, &timeout, nullptr);
      if (n < 0 && errno != EINTR) {
        std::perror("min_load_client: epoll_pwait2");
        return 1;
      }
      now = now_ns();
      for (int i = 0; i < n; ++i) {
        Connection& c = conns_[events[i].data.u32];
        if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable(c, now);
        if ((events[i].events & EPOLLOUT) != 0) flush(c);
      }
    }
    const double cpu = cpu_seconds() - cpu_start;
    const double window = static_cast<double>(window_end_ - window_start_) / 1e9;
    auto us = [&](double p) { return static_cast<double>(latency_.percentile(p)) / 1e3; };
    std::printf(
        "frames_per_s=%.1f sent_per_s=%.1f p50_us=%.3f p90_us=%.3f p99_us=%.3f p999_us=%.3f "
        "max_us=%.3f errors=%llu cpu_ns_per_frame=%.1f cpu_fraction=%.3f frames=%llu "
        "connections=%zu\n",
        static_cast<double>(completed_) / window, static_cast<double>(sent_in_window_) / window,
        us(50), us(90), us(99), us(99.9), static_cast<double>(latency_.max) / 1e3,
        static_cast<unsigned long long>(errors_),
        completed_ > 0 ? cpu * 1e9 / static_cast<double>(completed_) : 0.0, cpu / window,
        static_cast<unsigned long long>(completed_), conns_.size());
    return errors_ == 0 ? 0 : 1;
  }

 private:
  bool connect_all() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(o_.port);
    if (::getaddrinfo(o_.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
      std::fprintf(stderr, "min_load_client: cannot resolve %s\n", o_.host.c_str());
      return false;
    }
    conns_.resize(o_.connections);
    bool ok = true;
    for (std::size_t i = 0; i < conns_.size() && ok; ++i) {
      Connection& c = conns_[i];
      c.fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c.fd < 0 || ::connect(c.fd, found->ai_addr, found->ai_addrlen) != 0) {
        std::fprintf(stderr, "min_load_client: connect: %s\n", std::strerror(errno));
        ok = false;
        break;
      }
      const int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<std::uint32_t>(i);
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    }
    ::freeaddrinfo(found);
    return ok;
  }

  bool in_window(std::int64_t t) const { return t >= window_start_ && t < window_end_; }

  // Writes request `seq` sent at `sent` into the output buffer.
  void append(Connection& c, std::int64_t sent) {
    if (c.out_len + 4 + o_.size > c.out.size()) {
      std::memmove(c.out.data(), c.out.data() + c.out_head, c.out_len - c.out_head);
      c.out_len -= c.out_head;
      c.out_head = 0;
    }
    write_request(c.out.data() + c.out_len, c.send_seq++, sent);
    c.out_len += 4 + o_.size;
    if (in_window(sent)) ++sent_in_window_;
  }

  void write_request(unsigned char* p, std::uint64_t seq, std::int64_t sent) const {
    const auto n = static_cast<std::uint32_t>(o_.size);
    p[0] = static_cast<unsigned char>(n >> 24);
    p[1] = static_cast<unsigned char>(n >> 16);
    p[2] = static_cast<unsigned char>(n >> 8);
    p[3] = static_cast<unsigned char>(n);
    std::memcpy(p + 4, pattern_.data(), o_.size);
    unsigned char fields[16];
    put_be64(fields, seq);
    put_be64(fields + 8, static_cast<std::uint64_t>(sent));
    std::memcpy(p + 4, fields, o_.size < 16 ? o_.size : 16);
  }

  bool room(const Connection& c) const {
    return c.out.size() - (c.out_len - c.out_head) >= 4 + o_.size;
  }

  void fill_closed(Connection& c, std::int64_t now) {
    const std::size_t depth = o_.depth == 0 ? 1 : o_.depth;
    while (c.in_flight() < depth && room(c)) {
      c.push(now);
      c.sent[c.sent_end % c.sent.size()] = now;
      ++c.sent_end;
      append(c, now);
    }
    flush(c);
  }

  void send_due(Connection& c, std::int64_t now) {
    const std::size_t cap = o_.depth == 0 ? SIZE_MAX : o_.depth;
    while (c.pending() > 0 && c.in_flight() < cap && room(c)) {
      c.sent[c.sent_end % c.sent.size()] = now;
      ++c.sent_end;
      append(c, now);
    }
    flush(c);
  }

  std::int64_t due(std::size_t g) const {
    const double slot = static_cast<double>(g) +
                        static_cast<double>(due_count_[g]) * static_cast<double>(conns_.size());
    return schedule_start_ + static_cast<std::int64_t>(slot * period_ns_);
  }
  std::int64_t next_due() const { return due(cursor_); }

  void run_schedule(std::int64_t now) {
    touched_.clear();
    while (due(cursor_) <= now) {
      Connection& c = conns_[cursor_];
      c.push(due(cursor_));
      ++due_count_[cursor_];
      if (!c.touched) {
        c.touched = true;
        touched_.push_back(cursor_);
      }
      cursor_ = cursor_ + 1 == conns_.size() ? 0 : cursor_ + 1;
    }
    for (std::size_t g : touched_) {
      conns_[g].touched = false;
      send_due(conns_[g], now);
    }
  }

  void flush(Connection& c) {
    while (c.out_head < c.out_len) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.out_head, c.out_len - c.out_head, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        fail("send", errno);
        return;
      }
      c.out_head += static_cast<std::size_t>(n);
    }
    if (c.out_head == c.out_len) c.out_head = c.out_len = 0;
    const bool want = c.out_head < c.out_len;
    if (want != c.want_out) {
      c.want_out = want;
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
      ev.data.u32 = static_cast<std::uint32_t>(&c - conns_.data());
      ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }

  void on_readable(Connection& c, std::int64_t now) {
    const ssize_t n = ::recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return;
      fail(n == 0 ? "server closed" : "recv", n == 0 ? 0 : errno);
      return;
    }
    c.in_len += static_cast<std::size_t>(n);
    const std::size_t frame = 4 + o_.size;
    std::size_t at = 0;
    std::size_t replies = 0;
    while (c.in_len - at >= 4) {
      const unsigned char* p = c.in.data() + at;
      const std::uint32_t length = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                   (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
      if (length != o_.size) {
        fail("reply of the wrong length", 0);
        return;
      }
      if (c.in_len - at < frame) break;
      if (c.in_flight() == 0) {
        fail("reply with nothing in flight", 0);
        return;
      }
      const std::size_t slot = c.head % c.scheduled.size();
      write_request(expected_.data(), c.reply_seq++, c.sent[slot]);
      if (std::memcmp(expected_.data(), p, frame) != 0) ++errors_;
      if (in_window(now)) {
        ++completed_;
        latency_.record(static_cast<std::uint64_t>(now - c.scheduled[slot]));
      }
      ++c.head;
      ++replies;
      at += frame;
    }
    std::memmove(c.in.data(), c.in.data() + at, c.in_len - at);
    c.in_len -= at;
    if (replies == 0) return;
    if (o_.rate <= 0) {
      fill_closed(c, now);
    } else if (c.pending() > 0) {
      send_due(c, now);
    }
  }

  void fail(const char* what, int error) {
    std::fprintf(stderr, "min_load_client: %s%s%s\n", what, error != 0 ? ": " : "",
                 error != 0 ? std::strerror(error) : "");
    std::exit(1);
  }

  Options o_;
  int epoll_ = -1;
  std::vector<Connection> conns_;
  std::vector<unsigned char> pattern_;
  std::vector<unsigned char> expected_;
  std::vector<std::uint64_t> due_count_;
  std::vector<std::size_t> touched_;
  std::size_t cursor_ = 0;
  double period_ns_ = 0;
  std::int64_t schedule_start_ = 0;
  std::int64_t window_start_ = 0, window_end_ = 0;
  std::uint64_t completed_ = 0, sent_in_window_ = 0, errors_ = 0;
  Histogram latency_;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: min_load_client --port N [--host H] [--connections C] [--depth D] "
               "[--size B] [--rate FRAMES_PER_S] [--duration S] [--warmup S]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) usage();
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    char* end = nullptr;
    const double number = std::strtod(value, &end);
    const bool numeric = end != value && *end == '\0' && number >= 0;
    if (flag == "--host") {
      o.host = value;
    } else if (!numeric) {
      usage();
    } else if (flag == "--port") {
      o.port = static_cast<unsigned>(number);
    } else if (flag == "--connections") {
      o.connections = static_cast<std::size_t>(number);
    } else if (flag == "--depth") {
      o.depth = static_cast<std::size_t>(number);
    } else if (flag == "--size") {
      o.size = static_cast<std::size_t>(number);
    } else if (flag == "--rate") {
      o.rate = number;
    } else if (flag == "--duration") {
      o.duration = number;
    } else if (flag == "--warmup") {
      o.warmup = number;
    } else {
      usage();
    }
  }
  if (o.port == 0 || o.port > 65535 || o.connections == 0 || o.size > kBufferBytes / 4) usage();
  return Client(o).run();
}
