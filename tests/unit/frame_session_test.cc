// FrameSession driven without sockets: the test is its transport, so every split point, send size
// and deadline is exactly controlled, and what the session owes is compared with what the protocol
// (DESIGN §1) says it owes.

#include "ringwire/frame_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "ringwire/frame.h"

namespace ringwire {
namespace {

using Bytes = std::vector<std::byte>;

Bytes frame_of(std::size_t size, int seed) {
  Bytes frame(kFrameHeaderSize + size);
  encode_frame_header(frame, static_cast<std::uint32_t>(size));
  for (std::size_t i = 0; i < size; ++i) {
    frame[kFrameHeaderSize + i] = static_cast<std::byte>((seed * 31 + static_cast<int>(i)) & 0xff);
  }
  return frame;
}

Bytes concat(const std::vector<Bytes>& parts) {
  Bytes all;
  for (const Bytes& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

// Echoes, answers with the payload reversed, drops, refuses, throws or defers a frame, chosen by
// its first payload byte: replies sent from the input ring and from the output ring interleave.
class MixedService final : public Service {
 public:
  std::string_view name() const override { return "mixed"; }
  FrameResult on_frame(std::span<const std::byte> payload, ReplyWriter& out) override {
    switch (payload.empty() ? 0 : std::to_integer<int>(payload[0])) {
      case 1: {
        const std::span<std::byte> reply = out.append(kFrameHeaderSize + payload.size());
        encode_frame_header(reply, static_cast<std::uint32_t>(payload.size()));
        std::reverse_copy(payload.begin(), payload.end(), reply.begin() + kFrameHeaderSize);
        return {};
      }
      case 2:
        return {};
      case 3:
        return {FrameVerdict::kProtocolError, "refused"};
      case 4:
        throw std::runtime_error("service bug");
      case 5:
        late = out.defer();
        return {};
      default:
        return {FrameVerdict::kEcho, {}};
    }
  }
  LateReply late;
};

// What the protocol says MixedService owes for `frames`, up to the first refused one.
Bytes expected_replies(const std::vector<Bytes>& frames) {
  Bytes out;
  for (const Bytes& frame : frames) {
    const int kind = frame.size() > kFrameHeaderSize ? std::to_integer<int>(frame[4]) : 0;
    if (kind == 3 || kind == 4) break;
    if (kind == 1) {
      Bytes reply(frame.size());
      std::copy(frame.begin(), frame.begin() + kFrameHeaderSize, reply.begin());
      std::reverse_copy(frame.begin() + kFrameHeaderSize, frame.end(),
                        reply.begin() + kFrameHeaderSize);
      out.insert(out.end(), reply.begin(), reply.end());
    } else if (kind != 2) {
      out.insert(out.end(), frame.begin(), frame.end());
    }
  }
  return out;
}

class FrameSessionTest : public ::testing::Test, public SessionTransport {
 protected:
  TimePoint now() override { return clock_; }
  void shutdown_write() override { ++shutdowns_; }
  bool socket_empty() override { return socket_empty_; }
  void send_owed() override {
    ++late_sends_;
    send_all();
    session_.settle();
  }
  std::string peer_name() const override { return "test-peer"; }

  // Hands `bytes` to the session in reads of at most `chunk`, as a transport would.
  void deliver(std::span<const std::byte> bytes, std::size_t chunk) {
    while (!bytes.empty() && session_.wants_read()) {
      const std::span<std::byte> room = session_.read_room();
      if (room.empty()) break;
      const std::size_t n = std::min({chunk, room.size(), bytes.size()});
      std::memcpy(room.data(), bytes.data(), n);
      session_.received(n);
      bytes = bytes.subspan(n);
      session_.settle();
    }
    ASSERT_TRUE(bytes.empty()) << "the session stopped reading with bytes left";
  }

  // Sends everything owed, `max_send` bytes at a time.
  void send_all(std::size_t max_send = SIZE_MAX) {
    while (send_some(max_send) > 0) {
    }
  }

  // One send of at most `max_send` owed bytes; returns how many.
  std::size_t send_some(std::size_t max_send) {
    const FrameSession::Owed owed = session_.owed();
    {
      std::size_t budget = max_send;
      std::size_t taken = 0;
      for (std::size_t i = 0; i < owed.count && budget > 0; ++i) {
        const std::size_t n = std::min(budget, owed.spans[i].size());
        const auto bytes = owed.spans[i].first(n);
        sent_.insert(sent_.end(), bytes.begin(), bytes.end());
        budget -= n;
        taken += n;
      }
      if (taken > 0) session_.sent(taken);
      return taken;
    }
  }

  // A fresh session over `service` fed `stream` in reads of at most `chunk`; returns what it
  // sent. The replies owed are sent after each read, or with `pile_up` all at the end.
  Bytes through_fresh_session(Service& service, std::span<const std::byte> stream,
                              std::size_t chunk, bool pile_up, LoopStats& stats) {
    Bytes out;
    SessionContext context{rings_, service, stats, limits_};
    FrameSession session(context, *this);
    const auto send_owed_now = [&] {
      for (FrameSession::Owed owed = session.owed(); owed.count > 0; owed = session.owed()) {
        for (std::size_t i = 0; i < owed.count; ++i) {
          out.insert(out.end(), owed.spans[i].begin(), owed.spans[i].end());
        }
        session.sent(owed.bytes);
      }
    };
    session.start();
    while (!stream.empty()) {
      const std::span<std::byte> room = session.read_room();
      if (room.empty()) {
        ADD_FAILURE() << "the session stopped reading";
        break;
      }
      const std::size_t n = std::min({chunk, room.size(), stream.size()});
      std::memcpy(room.data(), stream.data(), n);
      session.received(n);
      stream = stream.subspan(n);
      if (!pile_up) send_owed_now();
      session.settle();
    }
    send_owed_now();
    session.abort(CloseReason::kShutdown);
    session.release();
    return out;
  }

  void finish() {
    session_.settle();
    if (session_.closed()) session_.release();
  }

  TimePoint clock_{};
  bool socket_empty_ = true;
  int shutdowns_ = 0;
  int late_sends_ = 0;
  Bytes sent_;
  RingPool rings_;
  MixedService service_;
  LoopStats stats_;
  ConnectionLimits limits_;
  SessionContext context_{rings_, service_, stats_, limits_};
  FrameSession session_{context_, *this};
};

TEST_F(FrameSessionTest, EveryChunkSizeGivesTheRepliesInOrder) {
  const std::vector<Bytes> frames = {frame_of(0, 0),   frame_of(10, 1) /* written */,
                                     frame_of(7, 0),   frame_of(1, 2) /* dropped */,
                                     frame_of(300, 0), frame_of(33, 1),
                                     frame_of(5, 0)};
  std::vector<Bytes> mixed = frames;
  mixed[1][4] = std::byte{1};
  mixed[3][4] = std::byte{2};
  mixed[5][4] = std::byte{1};
  const Bytes stream = concat(mixed);
  const Bytes expected = expected_replies(mixed);
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    LoopStats stats;
    ASSERT_EQ(through_fresh_session(service_, stream, chunk, false, stats), expected)
        << "chunk " << chunk;
    EXPECT_EQ(stats.frames_received.get(), mixed.size());
  }
}

// A service that echoes every frame is not called: whole frames join the echoed prefix in runs.
class EchoEveryFrame final : public Service {
 public:
  std::string_view name() const override { return "echo-every-frame"; }
  FrameResult on_frame(std::span<const std::byte>, ReplyWriter&) override {
    ++calls;
    return {FrameVerdict::kEcho, {}};
  }
  bool echoes_every_frame() const override { return true; }
  int calls = 0;
};

TEST_F(FrameSessionTest, EchoEveryFrameRunsGiveTheSameBytesAtEveryChunkSize) {
  std::vector<Bytes> frames;
  for (int i = 0; i < 40; ++i) frames.push_back(frame_of(static_cast<std::size_t>(i * 7 % 50), i));
  const Bytes stream = concat(frames);
  EchoEveryFrame echo;
  for (std::size_t chunk = 1; chunk <= 300; chunk += 13) {
    LoopStats stats;
    // Odd chunks: the replies pile up before any is sent.
    ASSERT_EQ(through_fresh_session(echo, stream, chunk, chunk % 2 == 1, stats), stream)
        << "chunk " << chunk;
    EXPECT_EQ(stats.frames_received.get(), frames.size());
  }
  EXPECT_EQ(echo.calls, 0);
}

TEST_F(FrameSessionTest, PartialSendsKeepTheOrderAcrossTheRings) {
  std::vector<Bytes> frames;
  for (int i = 0; i < 200; ++i) {
    Bytes f = frame_of(static_cast<std::size_t>(1 + i * 13 % 700), i);
    f[4] = std::byte{static_cast<unsigned char>(i % 3 == 0 ? 1 : 0)};
    frames.push_back(f);
  }
  session_.start();
  const Bytes stream = concat(frames);
  std::span<const std::byte> rest = stream;
  while (!rest.empty()) {
    const std::span<std::byte> room = session_.read_room();
    if (room.empty()) {
      send_all(97);  // the reader drains slowly
      session_.settle();
      continue;
    }
    const std::size_t n = std::min({std::size_t{4096}, room.size(), rest.size()});
    std::memcpy(room.data(), rest.data(), n);
    session_.received(n);
    rest = rest.subspan(n);
    send_all(1500);
    session_.settle();
  }
  send_all();
  EXPECT_EQ(sent_, expected_replies(frames));
}

TEST_F(FrameSessionTest, HalfCloseAnswersEveryCompleteFrameThenCloses) {
  session_.start();
  const Bytes whole = concat({frame_of(20, 0), frame_of(30, 0)});
  const Bytes partial = frame_of(50, 0);
  deliver(whole, 1000);
  deliver(std::span(partial).first(10), 1000);
  session_.peer_finished();
  EXPECT_FALSE(session_.wants_read());
  EXPECT_FALSE(session_.closed()) << "closed with replies owed";
  send_all();
  finish();
  EXPECT_EQ(sent_, whole);
  EXPECT_TRUE(session_.closed());
  EXPECT_EQ(session_.close_reason(), CloseReason::kPeerClosed);
  EXPECT_EQ(stats_.trailing_bytes_dropped.get(), 10u);
  EXPECT_EQ(shutdowns_, 0);
  EXPECT_EQ(stats_.ring_bytes_lent.get(), 0u);
}

TEST_F(FrameSessionTest, OversizedLengthSendsTheRepliesOwedThenShutsAndLingers) {
  limits_.max_frame = 100;
  session_.start();
  const Bytes good = concat({frame_of(20, 0), frame_of(100, 0)});
  Bytes bad(kFrameHeaderSize);
  encode_frame_header(bad, 101);
  deliver(concat({good, bad}), 7);
  EXPECT_FALSE(session_.wants_read()) << "read on past a protocol error";
  EXPECT_EQ(stats_.frames_oversized.get(), 1u);
  EXPECT_EQ(shutdowns_, 0) << "shut before the replies owed were sent";
  send_all(9);
  session_.settle();
  EXPECT_EQ(sent_, good);
  EXPECT_EQ(shutdowns_, 1);
  EXPECT_TRUE(session_.lingering());
  EXPECT_TRUE(session_.wants_read()) << "a lingering session reads and drops";
  EXPECT_EQ(session_.deadline(), clock_ + FrameSession::kLingerTimeout);
  clock_ += FrameSession::kLingerTimeout;
  session_.on_deadline();
  finish();
  EXPECT_EQ(stats_.closed_for(CloseReason::kProtocolError), 1u);
}

TEST_F(FrameSessionTest, LingeringEndsWhenThePeerCloses) {
  session_.start();
  session_.begin_drain();
  session_.settle();
  EXPECT_EQ(shutdowns_, 1);
  deliver(frame_of(10, 0), 3);  // read and dropped
  EXPECT_TRUE(sent_.empty());
  session_.peer_finished();
  finish();
  EXPECT_EQ(stats_.closed_for(CloseReason::kDrained), 1u);
}

TEST_F(FrameSessionTest, DrainWaitsForAPartialFrameAndTheSocket) {
  session_.start();
  const Bytes frame = frame_of(40, 0);
  deliver(std::span(frame).first(20), 100);
  session_.begin_drain();
  session_.settle();
  EXPECT_EQ(session_.state(), ConnectionState::kOpen) << "a partial frame is not quiet";
  deliver(std::span(frame).subspan(20), 100);
  socket_empty_ = false;
  session_.settle();
  EXPECT_EQ(shutdowns_, 0) << "replies owed are not quiet";
  send_all();
  session_.settle();
  EXPECT_EQ(shutdowns_, 0) << "unread bytes in the socket are not quiet";
  socket_empty_ = true;
  session_.settle();
  EXPECT_EQ(shutdowns_, 1);
  EXPECT_EQ(sent_, frame);
}

TEST_F(FrameSessionTest, IdleDeadlineClosesOnlyWithoutProgress) {
  limits_.idle_timeout = std::chrono::seconds(10);
  session_.start();
  EXPECT_EQ(session_.deadline(), clock_ + limits_.idle_timeout);
  clock_ += std::chrono::seconds(6);
  deliver(frame_of(3, 0), 100);
  send_all();
  clock_ += std::chrono::seconds(4);
  session_.on_deadline();
  EXPECT_FALSE(session_.closed()) << "progress 4 s ago";
  EXPECT_EQ(session_.deadline(), clock_ + std::chrono::seconds(6));
  clock_ += std::chrono::seconds(6);
  session_.on_deadline();
  finish();
  EXPECT_TRUE(session_.closed());
  EXPECT_EQ(stats_.closed_for(CloseReason::kIdleTimeout), 1u);
}

TEST_F(FrameSessionTest, BackpressureStopsReadingAtHighWaterAndResumesAtLowWater) {
  limits_.high_water = 4096;
  limits_.low_water = 1024;
  session_.start();
  while (session_.wants_read()) deliver(frame_of(500, 0), 1 << 20);
  EXPECT_GE(session_.unsent(), limits_.high_water);
  EXPECT_EQ(stats_.backpressure_pauses.get(), 1u);
  while (session_.unsent() > limits_.low_water + 100) {
    send_some(100);
    session_.settle();
    ASSERT_FALSE(session_.wants_read()) << "resumed above the low-water mark";
  }
  while (session_.unsent() > limits_.low_water) send_some(100);
  session_.settle();
  EXPECT_TRUE(session_.wants_read());
}

TEST_F(FrameSessionTest, AsynchronousSendKeepsItsBytesWhileTheOutputGrows) {
  session_.start();
  Bytes written = frame_of(1000, 0);
  written[4] = std::byte{1};
  deliver(written, 1 << 20);
  const FrameSession::Owed first = session_.owed();
  ASSERT_EQ(first.count, 1u);
  const std::span<const std::byte> in_flight = first.spans[0];
  const Bytes in_flight_copy(in_flight.begin(), in_flight.end());
  session_.sending(first.bytes);
  EXPECT_EQ(session_.owed().count, 0u) << "bytes handed over are not owed twice";
  // Enough written replies to outgrow the output ring while the first send is in flight.
  Bytes big = frame_of(RingPool::kMinRingCapacity, 0);
  big[4] = std::byte{1};
  for (int i = 0; i < 3; ++i) deliver(big, 1 << 20);
  EXPECT_TRUE(std::equal(in_flight.begin(), in_flight.end(), in_flight_copy.begin()))
      << "the bytes of a send in flight moved or changed";
  session_.sent(first.bytes);
  sent_ = in_flight_copy;
  send_all();
  EXPECT_EQ(sent_, expected_replies({written, big, big, big}));
}

TEST_F(FrameSessionTest, LateReplyKeepsItsPlaceInTheOrder) {
  session_.start();
  Bytes deferred = frame_of(8, 0);
  deferred[4] = std::byte{5};
  const Bytes before = frame_of(3, 0);
  const Bytes after = frame_of(4, 0);
  deliver(concat({before, deferred, after}), 1 << 20);
  send_all();
  EXPECT_EQ(sent_, before) << "the frame behind a late reply overtook it";
  const Bytes reply = frame_of(2, 9);
  EXPECT_TRUE(service_.late.send(reply));
  EXPECT_EQ(late_sends_, 1);
  EXPECT_EQ(sent_, concat({before, reply, after}));
  EXPECT_FALSE(service_.late.send(reply)) << "a late reply is sent once";
}

TEST_F(FrameSessionTest, LateReplyAfterTheSessionIsGoneIsDropped) {
  LateReply late;
  {
    LoopStats stats;
    SessionContext context{rings_, service_, stats, limits_};
    FrameSession session(context, *this);
    session.start();
    Bytes deferred = frame_of(1, 0);
    deferred[4] = std::byte{5};
    const std::span<std::byte> room = session.read_room();
    std::memcpy(room.data(), deferred.data(), deferred.size());
    session.received(deferred.size());
    late = service_.late;
  }
  EXPECT_FALSE(late.send(frame_of(1, 0)));
  EXPECT_EQ(late_sends_, 0);
}

TEST_F(FrameSessionTest, AServiceThatThrowsClosesOnlyThisSessionWithItsReason) {
  session_.start();
  Bytes throws = frame_of(1, 0);
  throws[4] = std::byte{4};
  deliver(concat({frame_of(2, 0), throws}), 1 << 20);
  finish();
  EXPECT_TRUE(session_.closed());
  EXPECT_EQ(stats_.closed_for(CloseReason::kServiceError), 1u);
}

}  // namespace
}  // namespace ringwire
