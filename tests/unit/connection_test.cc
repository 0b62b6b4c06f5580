// Connection driven turn by turn: its socket is one end of a socketpair, the test is the peer on
// the other, so buffer sizes and the order of reads and writes are exactly controlled.

#include "ringwire/connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ringwire/frame.h"
#include "ringwire/pipe_pool.h"
#include "ringwire/poller.h"
#include "services/echo_service.h"
#include "support/test_client.h"

namespace ringwire {
namespace {

using test::Bytes;

// A turn budget no healthy exchange below comes near; past it the connection is stuck.
constexpr int kMaxTurns = 10000;

// Over each readiness backend this build has (the completion one has its own transport and test).
std::vector<std::string> readiness_backends() {
  std::vector<std::string> names;
  for (const std::string& name : available_backends()) {
    if (!make_poller(name)->completions()) names.push_back(name);
  }
  return names;
}

class ConnectionTest : public ::testing::TestWithParam<std::string> {
 protected:
  // `server_sndbuf`: the connection's socket send buffer (0: the default).
  void open(int server_sndbuf) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
    peer_.reset(pair[0]);
    UniqueFd server_end(pair[1]);
    if (server_sndbuf > 0) {
      ::setsockopt(server_end.get(), SOL_SOCKET, SO_SNDBUF, &server_sndbuf, sizeof server_sndbuf);
    }
    context_.emplace(ConnectionContext{loop_, SessionContext{rings_, service_, stats_, limits_},
                                       pipes_, pass_through_,
                                       [this](NativeConnection&) { connection_.reset(); }});
    stats_.connections_open.add();
    connection_ = std::make_unique<Connection>(*context_, std::move(server_end), SocketAddress{});
    connection_->start();
  }

  // One loop turn: what is ready is dispatched (the posted stop wakes the wait at once).
  void turn() {
    loop_.post([this] { loop_.stop(); });
    loop_.run();
  }

  // Writes all of `bytes`, giving the connection turns (and reading its replies) while the socket
  // is full. False if it never makes room.
  bool write(std::span<const std::byte> bytes) {
    for (int turns = 0; !bytes.empty(); ++turns) {
      const ssize_t n = ::send(peer_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        continue;
      }
      if (turns == kMaxTurns) return false;
      turn();
      read_replies();
    }
    return true;
  }

  void read_replies() {
    std::byte buffer[64 * 1024];
    ssize_t n;
    while ((n = ::recv(peer_.get(), buffer, sizeof buffer, 0)) > 0) {
      received_.insert(received_.end(), buffer, buffer + n);
    }
  }

  // Turns and reads until `size` reply bytes came; false if they never do.
  bool receive(std::size_t size) {
    for (int turns = 0; received_.size() < size; ++turns) {
      if (turns == kMaxTurns) return false;
      turn();
      read_replies();
    }
    return true;
  }

  EventLoop loop_{GetParam()};
  RingPool rings_;
  PipePool pipes_;
  EchoService service_;
  LoopStats stats_;
  ConnectionLimits limits_;
  bool pass_through_ = false;  // large echoed frames by splice (set before open())
  std::optional<ConnectionContext> context_;
  std::unique_ptr<Connection> connection_;
  UniqueFd peer_;
  Bytes received_;
};

TEST_P(ConnectionTest, ResumesReadingWhenAPartialFrameFillsMostOfTheRing) {
  // A small send buffer leaves most of the first echo unsent; the next frame's bytes then fill the
  // rest of the ring and reading pauses. Once that echo is sent the ring holds only the partial
  // frame, nothing owed, less than a quarter free: reading must resume (and the ring grow), or the
  // frame can never complete.
  open(/*server_sndbuf=*/4096);
  const Bytes first = test::make_frame(16 * 1024, 1);
  const Bytes big = test::make_frame(1024 * 1024, 2);
  ASSERT_TRUE(write(first));
  turn();  // read and echoed in part
  ASSERT_TRUE(write(std::span(big).first(RingPool::kMinRingCapacity)));
  turn();  // fills the ring behind the unsent echo: paused
  ASSERT_TRUE(receive(first.size()));
  ASSERT_TRUE(write(std::span(big).subspan(RingPool::kMinRingCapacity))) << "reading never resumed";
  ASSERT_TRUE(receive(first.size() + big.size()));
  EXPECT_TRUE(std::equal(big.begin(), big.end(), received_.end() - std::ssize(big)));
  EXPECT_GT(stats_.backpressure_pauses.get(), 0u);
}

TEST_P(ConnectionTest, DrainShutsTheWriteSideAndClosesAfterThePeer) {
  open(/*server_sndbuf=*/0);
  const Bytes frame = test::make_frame(100, 7);
  ASSERT_TRUE(write(frame));
  turn();
  connection_->begin_drain();  // quiet: every frame answered
  ASSERT_TRUE(receive(frame.size()));
  std::byte byte;
  EXPECT_EQ(::recv(peer_.get(), &byte, 1, 0), 0) << "no EOF: the server did not shut its side";
  ASSERT_NE(connection_, nullptr) << "closed before the peer: a reset could destroy replies";
  ::shutdown(peer_.get(), SHUT_WR);
  for (int turns = 0; connection_ && turns < kMaxTurns; ++turns) turn();
  EXPECT_EQ(connection_, nullptr);
  EXPECT_EQ(stats_.closed_for(CloseReason::kDrained), 1u);
  EXPECT_EQ(stats_.ring_bytes_lent.get(), 0u);
}

TEST_P(ConnectionTest, PeerEofIsSeenWhenTinySegmentsHaveFilledThePassThroughPipe) {
  // Each splice of a tiny segment takes a whole pipe slot (a page), so a large frame trickled a
  // byte at a time fills the pipe's slots long before its bytes. If the peer's EOF comes just
  // then, splice reports the full pipe (EAGAIN), not the EOF: the connection must still learn of
  // it and close, not spin on a socket that stays readable.
  pass_through_ = true;
  open(/*server_sndbuf=*/0);
  const std::size_t slots = pipes_.acquire().capacity() / static_cast<std::size_t>(::getpagesize());
  const Bytes frame = test::make_frame(static_cast<std::uint32_t>(slots * 1024), 3);
  ASSERT_GE(frame.size(), FrameSession::kPassThroughMinFrame);
  ASSERT_TRUE(write(std::span(frame).first(kFrameHeaderSize)));
  turn();
  for (std::size_t i = 0; i < slots; ++i) {
    ASSERT_TRUE(write(std::span(frame).subspan(kFrameHeaderSize + i, 1)));
    turn();
  }
  ::shutdown(peer_.get(), SHUT_WR);
  for (int turns = 0; connection_ && turns < kMaxTurns; ++turns) turn();
  ASSERT_EQ(connection_, nullptr) << "the peer's EOF was never seen";
  EXPECT_EQ(stats_.pass_through_spills.get(), 0u) << "the pipe never filled: the test is moot";
  EXPECT_EQ(stats_.closed_for(CloseReason::kPeerClosed), 1u);
  EXPECT_EQ(stats_.trailing_bytes_dropped.get(), kFrameHeaderSize + slots);
  EXPECT_EQ(stats_.ring_bytes_lent.get(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ConnectionTest, ::testing::ValuesIn(readiness_backends()),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace ringwire
