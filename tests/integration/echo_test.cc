// The server's protocol behaviour over real loopback sockets, run against every engine built.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/uio.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "ringwire/frame.h"
#include "support/test_client.h"
#include "support/test_server.h"

namespace ringwire::test {
namespace {

class EchoTest : public ::testing::TestWithParam<std::string> {
 protected:
  ServerConfig config() const { return test_config(GetParam()); }
  // `loops` loops, the first alone listening and handing each connection to the least loaded.
  ServerConfig exact_balance_config(std::size_t loops) const {
    ServerConfig c = config();
    c.threads = loops;
    c.balance = Balance::kExact;
    return c;
  }
};

TEST_P(EchoTest, EchoesFramesFromEmptyToSixteenMebibytes) {
  TestServer server(config());
  TestClient client(server.port());
  for (std::size_t size : {0u, 1u, 64u * 1024, 1024u * 1024, 16u * 1024 * 1024}) {
    const Bytes payload = random_payload(size, size);
    client.send_frame(payload);
    ASSERT_EQ(client.receive_frame(), payload) << "size " << size;
  }
}

TEST_P(EchoTest, TenThousandPipelinedFramesOfRandomSizesComeBackInOrder) {
  TestServer server(config());
  TestClient client(server.port());
  std::mt19937 random(42);
  std::vector<Bytes> payloads;
  Bytes stream;
  for (int i = 0; i < 10000; ++i) {
    payloads.push_back(random_payload(random() % 2048, static_cast<std::uint64_t>(i)));
    const Bytes frame = make_frame(payloads.back());
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  // Send everything before reading anything (from a second thread, as the socket buffers fill).
  std::jthread writer([&] { client.send_all(stream); });
  for (const Bytes& expected : payloads) ASSERT_EQ(client.receive_frame(), expected);
  writer.join();
  EXPECT_EQ(server.stats()[&LoopStats::frames_received], 10000u);
}

TEST_P(EchoTest, WriterSendingOneByteAtATimeGetsEveryFrame) {
  TestServer server(config());
  TestClient client(server.port());
  Bytes stream;
  std::vector<Bytes> payloads = {random_payload(7, 1), Bytes{}, random_payload(300, 2)};
  for (const auto& p : payloads) {
    const Bytes frame = make_frame(p);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  for (std::byte b : stream) client.send_all(std::span<const std::byte>(&b, 1));
  for (const auto& p : payloads) ASSERT_EQ(client.receive_frame(), p);
}

TEST_P(EchoTest, ReaderThatStopsReadingIsHeldByBackpressureWithBoundedMemory) {
  TestServer server(config());
  TestClient client(server.port());
  const Bytes frame = make_frame(64 * 1024, 0xab);
  constexpr int kFrames = 256;  // 16 MiB: far more than the socket buffers hold
  std::atomic<int> sent{0};
  std::jthread writer([&] {
    for (int i = 0; i < kFrames; ++i) {
      client.send_all(frame);
      ++sent;
    }
  });
  // The client reads nothing: the server must stop reading, holding little memory.
  ASSERT_TRUE(wait_until([&] { return server.stats()[&LoopStats::backpressure_pauses] > 0; }));
  EXPECT_LT(sent.load(), kFrames);
  EXPECT_LE(server.stats()[&LoopStats::ring_bytes_lent], 1u * 1024 * 1024);
  for (int i = 0; i < kFrames; ++i) {
    const Bytes reply = client.receive_frame();
    ASSERT_EQ(reply.size(), 64u * 1024);
    ASSERT_EQ(reply.front(), std::byte{0xab});
    ASSERT_EQ(reply.back(), std::byte{0xab});
  }
  writer.join();
  // The server counts a send after the syscall returns, so the client may read the bytes first.
  const auto expected = static_cast<std::uint64_t>(kFrames) * frame.size();
  EXPECT_TRUE(wait_until([&] { return server.stats()[&LoopStats::bytes_sent] == expected; }))
      << server.stats()[&LoopStats::bytes_sent] << " of " << expected;
}

TEST_P(EchoTest, OversizedLengthClosesOnlyThatConnectionAfterTheRepliesOwed) {
  ServerConfig c = config();
  c.max_frame = 1000;
  TestServer server(c);
  TestClient bad(server.port());
  TestClient good(server.port());
  Bytes stream = make_frame(10, 1);
  const Bytes second = make_frame(1000, 2);
  stream.insert(stream.end(), second.begin(), second.end());
  Bytes oversized(4);
  encode_frame_header(oversized, 1001);
  stream.insert(stream.end(), oversized.begin(), oversized.end());
  bad.send_all(stream);
  EXPECT_EQ(bad.receive_frame().size(), 10u);
  EXPECT_EQ(bad.receive_frame().size(), 1000u);
  EXPECT_TRUE(bad.wait_closed());
  bad.close();  // ends the server's linger at once
  good.send_frame(random_payload(100, 5));
  EXPECT_EQ(good.receive_frame(), random_payload(100, 5));
  EXPECT_EQ(server.stats()[&LoopStats::frames_oversized], 1u);
  EXPECT_TRUE(
      wait_until([&] { return server.stats().closed_for(CloseReason::kProtocolError) == 1; }));
}

TEST_P(EchoTest, HalfClosedClientGetsEveryReplyThenTheServerCloses) {
  TestServer server(config());
  TestClient client(server.port());
  Bytes stream;
  for (int i = 0; i < 3; ++i) {
    const Bytes frame = make_frame(100, static_cast<std::uint8_t>(i));
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  const Bytes partial = make_frame(50, 9);
  stream.insert(stream.end(), partial.begin(), partial.begin() + 6);  // header + 2 bytes
  client.send_all(stream);
  client.shutdown_write();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(client.receive_frame(), Bytes(100, std::byte(static_cast<std::uint8_t>(i))));
  }
  EXPECT_TRUE(client.wait_closed());
  EXPECT_TRUE(wait_until([&] { return server.stats()[&LoopStats::trailing_bytes_dropped] == 6; }));
  EXPECT_TRUE(wait_until([&] { return server.stats().closed_for(CloseReason::kPeerClosed) == 1; }));
}

TEST_P(EchoTest, TwoHundredConcurrentConnectionsAreEachAnswered) {
  TestServer server(config());
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<TestClient>(server.port()));
  for (std::size_t i = 0; i < clients.size(); ++i) clients[i]->send_frame(random_payload(64, i));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ASSERT_EQ(clients[i]->receive_frame(), random_payload(64, i));
  }
  EXPECT_EQ(server.stats()[&LoopStats::connections_open], 200u);
}

TEST_P(EchoTest, ThousandConnectAndCloseInARowThenANormalEcho) {
  TestServer server(config());
  for (int i = 0; i < 1000; ++i) TestClient(server.port()).close();
  TestClient client(server.port());
  client.send_frame(random_payload(32, 1));
  EXPECT_EQ(client.receive_frame(), random_payload(32, 1));
  EXPECT_TRUE(wait_until([&] { return server.stats()[&LoopStats::connections_open] == 1; }));
  EXPECT_EQ(server.stats()[&LoopStats::connections_accepted], 1001u);
}

// Peers that reset (RST) at every point of a frame's life, each once the server has read what it
// sent: at once, mid-header, mid-frame, with small replies owed, mid-way through a large frame
// (passing through where the engine does so) and with a large reply owed. Each is closed and
// counted; the server goes on serving.
TEST_P(EchoTest, ThousandPeersResettingAtEveryPointOfAFrameThenANormalEcho) {
  TestServer server(config());
  const Bytes small = make_frame(random_payload(64, 1));
  const Bytes large = make_frame(random_payload(256 * 1024, 2));
  const auto part = [](const Bytes& frame, std::size_t n) { return std::span(frame).first(n); };
  std::uint64_t sent = 0;
  for (int i = 0; i < 1000; ++i) {
    TestClient peer(server.port());
    const auto send = [&](std::span<const std::byte> bytes) {
      peer.send_all(bytes);
      sent += bytes.size();
    };
    switch (i % 6) {
      case 0:
        break;
      case 1:
        send(part(small, 2));
        break;
      case 2:
        send(part(small, small.size() / 2));
        break;
      case 3:
        for (int k = 0; k < 8; ++k) send(small);
        break;
      case 4:
        send(part(large, large.size() / 2));
        break;
      default:
        send(large);
        break;
    }
    ASSERT_TRUE(wait_until([&] { return server.stats()[&LoopStats::bytes_received] == sent; }))
        << "peer " << i;
    peer.reset();
  }
  TestClient client(server.port());
  client.send_frame(random_payload(32, 1));
  EXPECT_EQ(client.receive_frame(), random_payload(32, 1));
  EXPECT_TRUE(wait_until([&] { return server.stats()[&LoopStats::connections_open] == 1; }));
  EXPECT_EQ(server.stats()[&LoopStats::connections_accepted], 1001u);
}

TEST_P(EchoTest, DiscardServiceCountsFramesAndRepliesNothing) {
  ServerConfig c = config();
  c.service = "discard";
  TestServer server(c);
  TestClient client(server.port());
  for (int i = 0; i < 50; ++i) client.send_frame(random_payload(100, 1));
  ASSERT_TRUE(wait_until([&] { return server.stats()[&LoopStats::frames_received] == 50; }));
  client.shutdown_write();
  EXPECT_TRUE(client.wait_closed());  // EOF with no reply byte before it
  EXPECT_EQ(server.stats()[&LoopStats::bytes_sent], 0u);
}

TEST_P(EchoTest, SizedServiceRepliesWithTheRequestedSize) {
  ServerConfig c = config();
  c.service = "sized";
  TestServer server(c);
  TestClient client(server.port());
  for (std::uint32_t size : {0u, 1u, 100000u, 3u}) {
    Bytes request(16);
    store_be32(request.data(), size);
    client.send_frame(request);
    EXPECT_EQ(client.receive_frame().size(), size);
  }
  client.send_frame(Bytes(3));  // shorter than the 4-octet size: a protocol error
  EXPECT_TRUE(client.wait_closed());
  client.close();
  EXPECT_TRUE(
      wait_until([&] { return server.stats().closed_for(CloseReason::kProtocolError) == 1; }));
}

// Listening sockets on `port` in /proc/net/tcp (state 0A = LISTEN).
int listening_sockets(std::uint16_t port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);
  int count = 0;
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (local.ends_with(wanted) && state == "0A") ++count;
  }
  return count;
}

// `count` connections, each shown to be served (one echo) before the next is opened.
std::vector<std::unique_ptr<TestClient>> echoing_clients(std::uint16_t port, int count) {
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<TestClient>(port));
    clients.back()->send_frame(random_payload(8, 1));
    EXPECT_EQ(clients.back()->receive_frame(), random_payload(8, 1));
  }
  return clients;
}

TEST_P(EchoTest, TwoLoopsHaveTwoListenersAndBothAcceptConnections) {
  ServerConfig c = config();
  c.threads = 2;
  TestServer server(c);
  EXPECT_EQ(listening_sockets(server.port()), 2);
  // The kernel spreads by a hash of the addresses: a few dozen connections reach both loops.
  const auto clients = echoing_clients(server.port(), 64);
  EXPECT_GT(server.engine().loop_stats(0)[&LoopStats::connections_accepted], 0u);
  EXPECT_GT(server.engine().loop_stats(1)[&LoopStats::connections_accepted], 0u);
}

TEST_P(EchoTest, ExactBalanceSpreadsConnectionsEvenlyOverTheLoops) {
  TestServer server(exact_balance_config(2));
  EXPECT_EQ(listening_sockets(server.port()), 1);
  const auto clients = echoing_clients(server.port(), 10);
  EXPECT_EQ(server.engine().loop_stats(0)[&LoopStats::connections_open], 5u);
  EXPECT_EQ(server.engine().loop_stats(1)[&LoopStats::connections_open], 5u);
}

// A burst: every connect is made before any is known to be served, so the listening loop
// accepts many in one wake-up and hands most of them over before the other loops have adopted
// any. The balance must count those hand-offs still in flight, or the burst all goes to the
// loop that looked least loaded when it began.
TEST_P(EchoTest, ExactBalanceSpreadsABurstOfSimultaneousConnectsEvenly) {
  constexpr std::size_t kLoops = 4;
  constexpr std::size_t kClients = 64;
  TestServer server(exact_balance_config(kLoops));
  std::vector<std::unique_ptr<TestClient>> clients;
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<TestClient>(server.port()));
  }
  ASSERT_TRUE(wait_until([&] { return server.stats()[&LoopStats::connections_open] == kClients; }));
  for (std::size_t loop = 0; loop < kLoops; ++loop) {
    const std::uint64_t open = server.engine().loop_stats(loop)[&LoopStats::connections_open];
    EXPECT_GE(open, kClients / kLoops - 1) << "loop " << loop;
    EXPECT_LE(open, kClients / kLoops + 1) << "loop " << loop;
  }
}

TEST_P(EchoTest, ExactBalanceDrainClosesTheConnectionsOfEveryLoop) {
  TestServer server(exact_balance_config(2));
  constexpr std::size_t kClients = 4;
  const auto clients = echoing_clients(server.port(), static_cast<int>(kClients));
  ASSERT_EQ(server.engine().loop_stats(1)[&LoopStats::connections_open], kClients / 2);
  server.drain(std::chrono::seconds(10));
  for (auto& client : clients) EXPECT_TRUE(client->wait_closed());
  EXPECT_TRUE(wait_until([&] { return server.drained(); }));
  EXPECT_EQ(server.stats().closed_for(CloseReason::kDrained), kClients);
}

TEST_P(EchoTest, IdleTimeoutClosesAPeerThatSentHalfAHeader) {
  ServerConfig c = config();
  c.idle_timeout_s = 0.2;
  TestServer server(c);
  TestClient active(server.port());
  TestClient slow(server.port());
  slow.send_all(Bytes(2));  // half a header, then nothing
  active.send_frame(random_payload(10, 1));
  EXPECT_EQ(active.receive_frame(), random_payload(10, 1));
  EXPECT_TRUE(slow.wait_closed());
  EXPECT_GE(server.stats().closed_for(CloseReason::kIdleTimeout), 1u);
}

TEST_P(EchoTest, MaxConnectionsClosesTheExtraOnesAndKeepsServingTheRest) {
  ServerConfig c = config();
  c.max_connections = 2;
  TestServer server(c);
  TestClient a(server.port());
  TestClient b(server.port());
  a.send_frame(random_payload(10, 1));
  EXPECT_EQ(a.receive_frame(), random_payload(10, 1));
  b.send_frame(random_payload(10, 2));
  EXPECT_EQ(b.receive_frame(), random_payload(10, 2));
  TestClient extra(server.port());
  EXPECT_TRUE(extra.wait_closed());
  EXPECT_EQ(server.stats().closed_for(CloseReason::kMaxConnections), 1u);
  a.send_frame(random_payload(10, 3));
  EXPECT_EQ(a.receive_frame(), random_payload(10, 3));
}

TEST_P(EchoTest, DrainAnswersFramesAlreadySentThenClosesAndRefusesNewConnections) {
  TestServer server(config());
  TestClient client(server.port());
  const Bytes frame = make_frame(64 * 1024, 7);
  constexpr int kFrames = 64;
  Bytes stream;
  for (int i = 0; i < kFrames; ++i) stream.insert(stream.end(), frame.begin(), frame.end());
  std::jthread writer([&] { client.send_all(stream); });
  ASSERT_TRUE(wait_until([&] { return server.stats()[&LoopStats::frames_received] > 0; }));
  server.drain(std::chrono::seconds(10));
  for (int i = 0; i < kFrames; ++i) ASSERT_EQ(client.receive_frame().size(), 64u * 1024);
  writer.join();
  EXPECT_TRUE(client.wait_closed());
  client.close();  // the server shut its side first and waits (lingers) for ours
  EXPECT_TRUE(wait_until([&] { return server.drained(); }));
  EXPECT_THROW(TestClient{server.port()}, std::system_error);  // the listener is closed
  EXPECT_EQ(server.stats().closed_for(CloseReason::kDrained), 1u);
}

// ---- large frames: the native engine passes them through a pipe (splice), see connection.h ----

// Both native transports (readiness, and the io_uring completion one) pass large frames through.
bool passes_through(const std::string& variant) { return variant.starts_with("native"); }

// Frames of these sizes, header included, are passed through by the native engine.
constexpr std::size_t kLargeFrame = 100 * 1024;

TEST_P(EchoTest, LargeAndSmallFramesPipelinedInRandomPiecesComeBackByteForByteInOrder) {
  TestServer server(config());
  TestClient client(server.port());
  std::mt19937 random(7);
  std::vector<Bytes> payloads;
  Bytes stream;
  for (int i = 0; i < 300; ++i) {
    // Small, just under and over the pass-through threshold, large, and over a pipe's capacity.
    constexpr std::size_t kSizes[] = {
        0, 100, 16 * 1024 - 5, 16 * 1024, 70000, 256 * 1024 - 4, 300 * 1024};
    const std::size_t size = kSizes[random() % std::size(kSizes)] + (i % 2 ? 0 : random() % 64);
    payloads.push_back(random_payload(size, static_cast<std::uint64_t>(i)));
    const Bytes frame = make_frame(payloads.back());
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  // Pipelined from a second thread, in pieces of random size (1 byte to 128 KiB).
  std::jthread writer([&] {
    std::mt19937 pieces(11);
    for (std::size_t at = 0; at < stream.size();) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + pieces() % (128 * 1024));
      client.send_all(std::span(stream).subspan(at, n));
      at += n;
    }
  });
  for (std::size_t i = 0; i < payloads.size(); ++i) ASSERT_EQ(client.receive_frame(), payloads[i]);
  writer.join();
  const StatsSnapshot stats = server.stats();
  EXPECT_EQ(stats[&LoopStats::frames_received], payloads.size());
  EXPECT_EQ(stats[&LoopStats::bytes_received], stream.size());
  EXPECT_TRUE(wait_until([&] { return server.stats()[&LoopStats::bytes_sent] == stream.size(); }));
  if (passes_through(GetParam())) {
    EXPECT_GT(stats[&LoopStats::frames_passed_through], 0u);
  }
}

TEST_P(EchoTest, LargeFrameArrivingInManySmallPagePiecesIsEchoedWhole) {
  // Each piece lies on a page of its own and is sent with vmsplice + splice, so the server's
  // socket holds it as a separate page fragment and each takes a pipe slot of its own: the frame
  // outgrows its pipe's slots long before its bytes and is spilled back to the ring.
  TestServer server(config());
  TestClient client(server.port());
  const Bytes payload = random_payload(kLargeFrame, 3);
  const Bytes frame = make_frame(payload);
  constexpr std::size_t kPiece = 64;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t pieces = (frame.size() + kPiece - 1) / kPiece;
  Bytes pages(pieces * page);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const UniqueFd read_end(fds[0]);
  const UniqueFd write_end(fds[1]);
  for (std::size_t i = 0; i < pieces; ++i) {
    const std::size_t n = std::min(kPiece, frame.size() - i * kPiece);
    std::memcpy(&pages[i * page], &frame[i * kPiece], n);
    iovec piece{&pages[i * page], n};
    ASSERT_EQ(::vmsplice(write_end.get(), &piece, 1, 0), static_cast<ssize_t>(n));
    ASSERT_EQ(::splice(read_end.get(), nullptr, client.fd(), nullptr, n, 0),
              static_cast<ssize_t>(n));
  }
  EXPECT_EQ(client.receive_frame(), payload);
  client.send_frame(random_payload(10, 4));  // and the connection goes on
  EXPECT_EQ(client.receive_frame(), random_payload(10, 4));
  EXPECT_EQ(server.stats()[&LoopStats::bytes_received], frame.size() + 14);
  if (passes_through(GetParam())) {
    EXPECT_EQ(server.stats()[&LoopStats::pass_through_spills], 1u);
  }
}

TEST_P(EchoTest, HalfCloseInTheMiddleOfALargeFrameAnswersTheWholeOnesAndDropsTheRest) {
  TestServer server(config());
  TestClient client(server.port());
  const Bytes first = random_payload(kLargeFrame, 1);
  const Bytes second = random_payload(kLargeFrame, 2);
  Bytes stream = make_frame(first);
  const Bytes second_frame = make_frame(second);
  stream.insert(stream.end(), second_frame.begin(), second_frame.end());
  const Bytes partial = make_frame(random_payload(kLargeFrame, 3));
  constexpr std::size_t kPartialBytes = 4 + 40 * 1024;  // header and 40 KiB of 100 KiB
  stream.insert(stream.end(), partial.begin(), partial.begin() + kPartialBytes);
  client.send_all(stream);
  client.shutdown_write();
  EXPECT_EQ(client.receive_frame(), first);
  EXPECT_EQ(client.receive_frame(), second);
  // Then EOF: no byte of the incomplete frame comes back.
  EXPECT_THROW(client.receive_exact(1), std::runtime_error);
  EXPECT_TRUE(wait_until(
      [&] { return server.stats()[&LoopStats::trailing_bytes_dropped] == kPartialBytes; }));
  EXPECT_TRUE(wait_until([&] { return server.stats().closed_for(CloseReason::kPeerClosed) == 1; }));
  EXPECT_EQ(server.stats()[&LoopStats::frames_received], 2u);
  EXPECT_EQ(server.stats()[&LoopStats::bytes_received], stream.size());
}

TEST_P(EchoTest, ReaderThatStopsReadingLargeFramesIsHeldWithBoundedMemory) {
  TestServer server(config());
  TestClient client(server.port());
  constexpr int kFrames = 128;  // 12.5 MiB: far more than the socket buffers and a pipe hold
  std::atomic<int> sent{0};
  std::jthread writer([&] {
    for (int i = 0; i < kFrames; ++i) {
      client.send_frame(random_payload(kLargeFrame, static_cast<std::uint64_t>(i)));
      ++sent;
    }
  });
  ASSERT_TRUE(wait_until([&] { return server.stats()[&LoopStats::backpressure_pauses] > 0; }));
  EXPECT_LT(sent.load(), kFrames);
  EXPECT_LE(server.stats()[&LoopStats::ring_bytes_lent], 1u * 1024 * 1024);
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_EQ(client.receive_frame(), random_payload(kLargeFrame, static_cast<std::uint64_t>(i)));
  }
  writer.join();
  const auto expected = static_cast<std::uint64_t>(kFrames) * (kLargeFrame + 4);
  EXPECT_TRUE(wait_until([&] { return server.stats()[&LoopStats::bytes_sent] == expected; }))
      << server.stats()[&LoopStats::bytes_sent] << " of " << expected;
}

TEST_P(EchoTest, OversizedHeaderAfterALargeFrameClosesAfterItsReply) {
  ServerConfig c = config();
  c.max_frame = 200 * 1024;
  TestServer server(c);
  TestClient client(server.port());
  const Bytes payload = random_payload(kLargeFrame, 5);
  Bytes stream = make_frame(payload);
  stream.insert(stream.end(), stream.begin(), stream.end());  // the same frame twice
  Bytes oversized(4);
  encode_frame_header(oversized, 200 * 1024 + 1);
  stream.insert(stream.end(), oversized.begin(), oversized.end());
  client.send_all(stream);
  EXPECT_EQ(client.receive_frame(), payload);
  EXPECT_EQ(client.receive_frame(), payload);
  EXPECT_TRUE(client.wait_closed());
  client.close();
  EXPECT_EQ(server.stats()[&LoopStats::frames_oversized], 1u);
  EXPECT_TRUE(
      wait_until([&] { return server.stats().closed_for(CloseReason::kProtocolError) == 1; }));
}

INSTANTIATE_TEST_SUITE_P(Engines, EchoTest, ::testing::ValuesIn(server_variants()),
                         [](const auto& param_info) {
                           return variant_test_name(param_info.param);
                         });

}  // namespace
}  // namespace ringwire::test
