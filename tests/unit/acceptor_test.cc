#include "ringwire/acceptor.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <vector>

#include "support/test_client.h"

namespace ringwire {
namespace {

class KeepAccepted final : public AcceptHandler {
 public:
  void on_accepted(UniqueFd socket, const SocketAddress&) override {
    accepted.push_back(std::move(socket));
  }
  std::vector<UniqueFd> accepted;
};

int no_delay_of(int fd) {
  int value = -1;
  socklen_t length = sizeof value;
  EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &length), 0);
  return value;
}

// The per-connection setsockopt is gone: what the Acceptor hands over has TCP_NODELAY already.
TEST(AcceptorTest, AcceptedSocketsHaveNoDelayFromTheirListener) {
  UniqueFd listening = make_listen_socket(resolve_address("127.0.0.1", 0), /*reuse_port=*/false);
  const std::uint16_t port = local_address(listening.get()).port();
  ASSERT_EQ(no_delay_of(listening.get()), 0);
  KeepAccepted handler;
  LoopStats stats;
  Acceptor acceptor(std::move(listening), handler, stats);
  EXPECT_NE(no_delay_of(acceptor.fd()), 0);

  test::TestClient client(port);  // connect() returns once the handshake is done: it is waiting
  EXPECT_EQ(acceptor.accept_waiting(Clock::now()), Acceptor::Result::kDone);
  ASSERT_EQ(handler.accepted.size(), 1u);
  EXPECT_NE(no_delay_of(handler.accepted[0].get()), 0);
}

}  // namespace
}  // namespace ringwire
