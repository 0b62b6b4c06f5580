#pragma once
// What the connection fuzz targets share: the oracle written from the protocol alone (DESIGN §1),
// the test-only mixed service, the program an input encodes, and the peer that runs it against
// one connection over a socketpair. Each target supplies its server side: the native Connection
// on an EventLoop (connection_fuzz.cc) or the uv engine's UvConnection on a libuv loop
// (uv_connection_fuzz.cc).
//
// An input is a config byte (service, max-frame, water marks, the server's send buffer), then a
// program of operations: write the next chunk of input bytes (any split, headers too), write a
// long run of filler (frames bigger than a buffer), run one loop turn, read what came back,
// half-close, drain. At the end the peer half-closes and reads until the server has closed, and
// what came back must be exactly the replies owed for every complete frame up to the first
// protocol error, and the counters must agree with it (frames, bytes each way, the incomplete
// last frame, exactly one close). The decoder is also checked directly: decode_frame agrees with
// the oracle on every prefix of every frame.

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "ringwire/connection.h"
#include "ringwire/frame.h"
#include "ringwire/service.h"
#include "ringwire/stats.h"
#include "ringwire/unique_fd.h"
#include "services/discard_service.h"
#include "services/echo_service.h"
#include "services/sized_service.h"

namespace ringwire::fuzz {

using Bytes = std::vector<std::byte>;

// Bounds that keep one input fast (thousands per second) while still reaching every path.
inline constexpr std::size_t kMaxFiller = 256 * 1024;  // one filler write: past two ring doublings
inline constexpr int kMaxTurnsToClose = 20000;         // a connection that never closes is a bug
inline constexpr std::size_t kMaxWriteStalls = 20000;  // a peer write that never fits is a bug

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "connection_fuzz: %s\n", what);
  std::abort();
}

// MixedService: echoes, writes or drops a frame, or calls it a protocol error, by its first
// byte — so echoed replies (sent from the input ring) and written ones (the output ring)
// interleave, which none of the built-in services does alone.
class MixedService final : public Service {
 public:
  std::string_view name() const override { return "mixed"; }
  FrameResult on_frame(std::span<const std::byte> payload, ReplyWriter& out) override {
    switch (payload.empty() ? 0 : std::to_integer<int>(payload[0]) % 4) {
      case 0:
        return {FrameVerdict::kEcho, {}};
      case 1: {  // the payload reversed, as a frame
        const std::span<std::byte> reply = out.append(kFrameHeaderSize + payload.size());
        encode_frame_header(reply, static_cast<std::uint32_t>(payload.size()));
        for (std::size_t i = 0; i < payload.size(); ++i) {
          reply[kFrameHeaderSize + i] = payload[payload.size() - 1 - i];
        }
        return {};
      }
      case 2:
        return {};
      default:
        return {FrameVerdict::kProtocolError, "mixed: a frame that asks to be refused"};
    }
  }
};

enum class Kind : std::uint8_t { kEcho, kDiscard, kSized, kMixed };

inline std::uint32_t be32(const std::byte* p) {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) |
         (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

inline void append_header(Bytes& out, std::size_t length) {
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<std::byte>(length >> shift));
}

// The oracle: the reply bytes owed for `sent`, and how many frames the server will count.
struct Owed {
  Bytes replies;
  std::uint64_t frames = 0;
  std::size_t consumed = 0;  // bytes of the complete frames answered (or refused)
};

inline Owed replies_owed(Kind kind, std::span<const std::byte> sent, std::uint32_t max_frame) {
  Owed owed;
  std::size_t at = 0;
  while (sent.size() - at >= 4) {
    const std::uint32_t length = be32(sent.data() + at);
    if (length > max_frame) break;             // protocol error: nothing more is answered
    if (sent.size() - at - 4 < length) break;  // incomplete: dropped at the end
    const auto frame = sent.subspan(at, 4 + std::size_t{length});
    const auto payload = frame.subspan(4);
    ++owed.frames;
    at += frame.size();
    owed.consumed = at;
    switch (kind) {
      case Kind::kEcho:
        owed.replies.insert(owed.replies.end(), frame.begin(), frame.end());
        break;
      case Kind::kDiscard:
        break;
      case Kind::kSized: {
        if (payload.size() < 4) return owed;
        const std::uint32_t size = be32(payload.data());
        if (size > max_frame) return owed;
        append_header(owed.replies, size);
        owed.replies.resize(owed.replies.size() + size, std::byte{0});
        break;
      }
      case Kind::kMixed: {
        const int what = payload.empty() ? 0 : std::to_integer<int>(payload[0]) % 4;
        if (what == 0) owed.replies.insert(owed.replies.end(), frame.begin(), frame.end());
        if (what == 1) {
          append_header(owed.replies, payload.size());
          owed.replies.insert(owed.replies.end(), payload.rbegin(), payload.rend());
        }
        if (what == 3) return owed;
        break;
      }
    }
  }
  return owed;
}

// decode_frame agrees with the protocol on every prefix of the frame at the start of `in`.
inline void check_frame(std::span<const std::byte> in, std::uint32_t max_frame) {
  if (in.size() < 4) {
    if (decode_frame(in, max_frame).status != FrameStatus::kNeedMore) fail("decoder: short");
    return;
  }
  const std::uint32_t length = be32(in.data());
  const std::size_t whole = 4 + std::size_t{length};
  for (std::size_t prefix = 0; prefix <= std::min(in.size(), whole); ++prefix) {
    const FrameView view = decode_frame(in.first(prefix), max_frame);
    if (prefix < 4) {
      if (view.status != FrameStatus::kNeedMore || view.needed != 4) fail("decoder: header");
    } else if (length > max_frame) {
      if (view.status != FrameStatus::kTooLarge || view.length != length) fail("decoder: limit");
    } else if (prefix < whole) {
      if (view.status != FrameStatus::kNeedMore || view.needed != whole) fail("decoder: partial");
    } else if (view.status != FrameStatus::kComplete || view.payload.data() != in.data() + 4 ||
               view.payload.size() != length) {
      fail("decoder: complete");
    }
    // Past 64 prefixes only the last few matter; keeps long frames cheap.
    if (prefix == 64 && whole > 72 && in.size() >= whole) prefix = whole - 4;
  }
}

// ... and on each frame of a stream, up to the first that is incomplete or too large.
inline void check_decoder(std::span<const std::byte> in, std::uint32_t max_frame) {
  std::size_t at = 0;
  while (true) {
    const auto rest = in.subspan(at);
    check_frame(rest, max_frame);
    if (rest.size() < 4 || be32(rest.data()) > max_frame) return;
    const std::size_t whole = 4 + std::size_t{be32(rest.data())};
    if (rest.size() < whole) return;
    at += whole;
  }
}

inline std::unique_ptr<Service> make_service(Kind kind, std::uint32_t max_frame) {
  switch (kind) {
    case Kind::kEcho:
      return std::make_unique<EchoService>();
    case Kind::kDiscard:
      return std::make_unique<DiscardService>();
    case Kind::kSized:
      return std::make_unique<SizedService>(max_frame);
    case Kind::kMixed:
      break;
  }
  return std::make_unique<MixedService>();
}

// The engine under test: one connection on its loop, serving the server end of the socketpair.
class ServerSide {
 public:
  virtual ~ServerSide() = default;
  // One loop turn that waits for nothing: what is ready is handled.
  virtual void turn() = 0;
  // The connection has not closed yet.
  virtual bool open() const = 0;
  // The server starts a graceful drain.
  virtual void begin_drain() = 0;
  // After the close: every buffer the engine lent is back (fail() otherwise).
  virtual void check_buffers_returned() = 0;
};

// What a target's server side is made from.
struct ServerSetup {
  Service& service;
  LoopStats& stats;
  const ConnectionLimits& limits;
  UniqueFd socket;  // the server end of the socketpair
};

using MakeServerSide = std::unique_ptr<ServerSide> (*)(ServerSetup setup);

// Reads the input front to back; past the end every read is zero.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  std::span<const std::byte> take(std::size_t n) {
    n = std::min(n, size_ - at_);
    const auto span = std::span(reinterpret_cast<const std::byte*>(data_ + at_), n);
    at_ += n;
    return span;
  }
  std::span<const std::byte> rest() const {
    return {reinterpret_cast<const std::byte*>(data_ + at_), size_ - at_};
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

// One input's run: the server side, the peer socket, what was sent and received.
class Run {
 public:
  Run(MakeServerSide make_side, Kind kind, const ConnectionLimits& limits, int server_sndbuf)
      : kind_(kind), limits_(limits), service_(make_service(kind, limits.max_frame)) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
      fail("socketpair");
    }
    peer_.reset(pair[0]);
    UniqueFd server_end(pair[1]);
    if (server_sndbuf > 0) {
      ::setsockopt(server_end.get(), SOL_SOCKET, SO_SNDBUF, &server_sndbuf, sizeof server_sndbuf);
    }
    stats_.connections_open.add();  // as the server's accept does; the close takes it back
    side_ = make_side({*service_, stats_, limits_, std::move(server_end)});
  }

  void turn() { side_->turn(); }

  void read_replies() {
    std::byte buffer[64 * 1024];
    while (!peer_eof_) {
      const ssize_t n = ::recv(peer_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        received_.insert(received_.end(), buffer, buffer + n);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        peer_eof_ = true;
      } else {
        return;
      }
    }
  }

  void write(std::span<const std::byte> bytes) {
    std::size_t stalls = 0;
    while (!bytes.empty() && can_write()) {
      const ssize_t n =
          ::send(peer_.get(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent_.insert(sent_.end(), bytes.begin(), bytes.begin() + n);
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        write_failed_ = true;  // the server closed after a protocol error
        return;
      }
      // Full: let the server read, and read its replies so it can go on.
      if (++stalls > kMaxWriteStalls) fail("a peer write never fits");
      turn();
      read_replies();
    }
  }

  // The server starts a graceful drain (once): it must still answer every frame already sent.
  void drain() {
    if (draining_ || !side_->open()) return;
    draining_ = true;
    sent_at_drain_ = sent_.size();
    side_->begin_drain();  // may close it at once
  }

  void half_close() {
    if (!half_closed_) ::shutdown(peer_.get(), SHUT_WR);
    half_closed_ = true;
  }

  void finish_and_check() {
    half_close();
    for (int i = 0; side_->open() && i < kMaxTurnsToClose; ++i) {
      turn();
      read_replies();
    }
    if (side_->open()) fail("the connection never closed after the peer's EOF");
    read_replies();
    const Owed owed = replies_owed(kind_, sent_, limits_.max_frame);
    // Draining, the server may close once it has answered what it had: frames written after the
    // drain began may go unanswered, those written before may not.
    const std::size_t at_least =
        draining_ ? replies_owed(kind_, std::span(sent_).first(sent_at_drain_), limits_.max_frame)
                        .replies.size()
                  : owed.replies.size();
    if (received_.size() < at_least || received_.size() > owed.replies.size() ||
        !std::equal(received_.begin(), received_.end(), owed.replies.begin())) {
      std::fprintf(stderr, "sent %zu bytes, received %zu reply bytes, owed %zu (at least %zu)\n",
                   sent_.size(), received_.size(), owed.replies.size(), at_least);
      fail("the replies differ from those owed");
    }
    check_counters(owed);
    if (stats_.ring_bytes_lent.get() != 0) fail("a buffer was not handed back");
    if (stats_.connections_open.get() != 0) fail("the open-connection gauge is off");
    side_->check_buffers_returned();
  }

 private:
  bool can_write() const { return !half_closed_ && !write_failed_ && side_->open(); }

  // The counters agree with what crossed the socket and with the oracle.
  void check_counters(const Owed& owed) const {
    std::uint64_t closes = 0;
    for (const Counter& closed : stats_.closed) closes += closed.get();
    if (closes != 1) fail("the close was not counted exactly once");
    const bool peer_closed = stats_.closed_for(CloseReason::kPeerClosed) == 1;
    const bool refused = stats_.closed_for(CloseReason::kProtocolError) == 1;
    if (!draining_ && (peer_closed || refused) && stats_.frames_received.get() != owed.frames) {
      fail("frames_received differs from the complete frames sent");
    }
    if (!peer_closed) return;  // read to EOF, so every byte either way was counted
    if (stats_.bytes_sent.get() != received_.size()) fail("bytes_sent differs from the replies");
    if (stats_.bytes_received.get() != sent_.size()) fail("bytes_received differs from the sent");
    if (!draining_ && stats_.trailing_bytes_dropped.get() != sent_.size() - owed.consumed) {
      fail("trailing_bytes_dropped differs from the incomplete last frame");
    }
  }

  Kind kind_;
  ConnectionLimits limits_;
  std::unique_ptr<Service> service_;
  LoopStats stats_;
  std::unique_ptr<ServerSide> side_;
  UniqueFd peer_;
  Bytes sent_, received_;
  bool peer_eof_ = false;
  bool half_closed_ = false;
  bool write_failed_ = false;
  bool draining_ = false;
  std::size_t sent_at_drain_ = 0;
};

// Runs one input against a fresh server side made by `make_side`.
inline void run_input(const std::uint8_t* data, std::size_t size, MakeServerSide make_side) {
  Input input(data, size);

  // Config: service, max-frame, water marks, the server's socket send buffer.
  const std::uint8_t config = input.byte();
  const auto kind = static_cast<Kind>(config & 3);
  static constexpr std::uint32_t kMaxFrames[] = {0, 100, 70'000, kDefaultMaxFrame};
  ConnectionLimits limits;
  limits.max_frame = kMaxFrames[(config >> 2) & 3];
  limits.idle_timeout = std::chrono::hours(1);  // armed and cancelled, never fired
  if (config & 0x10) {
    limits.high_water = 2048;  // backpressure after a couple of small replies
    limits.low_water = 512;
  }
  const int server_sndbuf = (config & 0x20) ? 4096 : 0;  // 0: the default

  // The decoder alone, on the raw program bytes.
  check_decoder(input.rest(), limits.max_frame);

  Run run(make_side, kind, limits, server_sndbuf);
  while (!input.done()) {
    const std::uint8_t op = input.byte();
    switch (op % 8) {
      case 0:
      case 1:
      case 2:  // the next 1..256 input bytes, as they are
        run.write(input.take(std::size_t{input.byte()} + 1));
        break;
      case 3: {  // a frame header announcing a filler payload, or a long run of filler
        const std::size_t length = (std::size_t{input.byte()} << 10 | input.byte()) % kMaxFiller;
        Bytes filler;
        if (op & 0x80) append_header(filler, length);
        filler.resize(filler.size() + length, static_cast<std::byte>(op));
        run.write(filler);
        break;
      }
      case 4:
      case 5:
        run.turn();
        break;
      case 6:
        run.read_replies();
        break;
      case 7:
        if (op & 0x80) {
          run.half_close();
        } else if (op & 0x40) {
          run.drain();
        }
        break;
    }
  }
  run.finish_and_check();
}

// A target's whole LLVMFuzzerTestOneInput: the input run against a fresh `Side`.
template <typename Side>
int fuzz_one_input(const std::uint8_t* data, std::size_t size) {
  run_input(data, size, [](ServerSetup setup) -> std::unique_ptr<ServerSide> {
    return std::make_unique<Side>(std::move(setup));
  });
  return 0;
}

}  // namespace ringwire::fuzz
