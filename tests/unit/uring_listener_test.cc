// Listener on io_uring's completion form, with one listening socket shared by two listeners as a
// listener handover leaves it (the old process's and the new one's, here two loops on the test
// thread). io_uring's accept waits on the socket exclusively: a new connection wakes one waiting
// accept only. The listener that closes must not take that wake-up with it.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "ringwire/listener.h"
#include "ringwire/net.h"

namespace ringwire {
namespace {

using namespace std::chrono_literals;

bool has_uring() {
  const auto backends = available_backends();
  return std::find(backends.begin(), backends.end(), "io_uring") != backends.end();
}

class Collect final : public AcceptHandler {
 public:
  void on_accepted(UniqueFd socket, const SocketAddress& /*peer*/) override {
    sockets.push_back(std::move(socket));
    if (stop_on_accept != nullptr) stop_on_accept->stop();
  }
  std::vector<UniqueFd> sockets;
  EventLoop* stop_on_accept = nullptr;
};

// One loop turn: the accept's submission, or what completed meanwhile.
void turn(EventLoop& loop) {
  loop.post([&loop] { loop.stop(); });
  loop.run();
}

TEST(UringListenerTest, ClosingOneOfTwoListenersOnASocketLosesNoWaitingConnection) {
  if (!has_uring()) GTEST_SKIP() << "no io_uring in this build or kernel";
  EventLoop old_loop("io_uring");
  EventLoop new_loop("io_uring");
  if (!old_loop.completions() || !new_loop.completions()) {
    GTEST_SKIP() << "io_uring without its completion form here";
  }
  const SocketAddress address = resolve_address("127.0.0.1", 0);
  UniqueFd socket = make_listen_socket(address, false);
  ASSERT_TRUE(socket);
  const std::uint16_t port = local_address(socket.get()).port();
  UniqueFd shared(::dup(socket.get()));  // one file description, two descriptors: a handover
  ASSERT_TRUE(shared);

  LoopStats stats;
  Collect old_side, new_side;
  Listener old_listener(old_loop, std::move(socket), old_side, stats);
  Listener new_listener(new_loop, std::move(shared), new_side, stats);
  // The old accept waits first, so the next connection's wake-up goes to it.
  old_listener.start();
  turn(old_loop);
  new_listener.start();
  turn(new_loop);

  // Connected once the kernel queued it; the old loop has not run since, so its accept has only
  // been woken (its work waits for the loop's next entry into the ring).
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const SocketAddress server = resolve_address("127.0.0.1", port);
  ASSERT_EQ(::connect(client.get(), server.get(), server.length), 0);

  old_listener.close();  // the old process drains
  turn(old_loop);        // its cancelled accept's last completion

  // The connection is served by one of them: the new loop gets a bounded wait for it.
  if (old_side.sockets.empty()) {
    new_side.stop_on_accept = &new_loop;
    const TimerId give_up = new_loop.add_timer_after(2s, [&new_loop] { new_loop.stop(); });
    new_loop.run();
    new_loop.cancel_timer(give_up);
  }
  ASSERT_EQ(old_side.sockets.size() + new_side.sockets.size(), 1u)
      << "a connection waits in the backlog with no accept woken for it";
  const UniqueFd& accepted =
      old_side.sockets.empty() ? new_side.sockets.front() : old_side.sockets.front();
  SocketAddress peer;
  peer.length = sizeof peer.storage;
  ASSERT_EQ(::getpeername(accepted.get(), peer.get(), &peer.length), 0);
  EXPECT_EQ(peer.port(), local_address(client.get()).port());
}

}  // namespace
}  // namespace ringwire
