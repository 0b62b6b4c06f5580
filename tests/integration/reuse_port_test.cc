// --reuse-port and --handover: several ringwire-server processes on one port, each with its own
// loops; a successor taking its predecessor's listening sockets.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>

#include "support/server_process.h"
#include "support/test_client.h"

namespace ringwire::test {
namespace {

// The "N connection(s) accepted" of a server's exit line, or -1 when the line is not there.
long accepted_in_exit_line(const std::string& stderr_text) {
  std::smatch match;
  if (!std::regex_search(stderr_text, match,
                         std::regex(R"(stopped:.* (\d+) connection\(s\) accepted)"))) {
    return -1;
  }
  return std::stol(match[1]);
}

TEST(ReusePortTest, SecondProcessWithoutTheFlagIsRefusedWithAHint) {
  ServerProcess first({"--port", "0", "--log-level", "warn"});
  const std::uint16_t port = first.ready_port();
  ASSERT_NE(port, 0);
  ServerProcess second({"--port", std::to_string(port)});
  EXPECT_EQ(second.wait_exit(), 1);
  const std::string error = second.stderr_rest();
  EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
  EXPECT_NE(error.find("--reuse-port"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
}

TEST(ReusePortTest, TwoProcessesOnOnePortBothServe) {
  ServerProcess first({"--port", "0", "--threads", "2", "--reuse-port", "--log-level", "info"});
  const std::uint16_t port = first.ready_port();
  ASSERT_NE(port, 0);
  ServerProcess second(
      {"--port", std::to_string(port), "--threads", "2", "--reuse-port", "--log-level", "info"});
  ASSERT_EQ(second.ready_port(), port);

  // The kernel picks one of the group's four sockets by a hash of the addresses: that 200
  // connections from fresh ports all land on one process has odds of 2^-199.
  constexpr long kConnections = 200;
  for (long i = 0; i < kConnections; ++i) {
    TestClient client(port);
    client.send_frame(random_payload(64, static_cast<std::uint64_t>(i)));
    ASSERT_EQ(client.receive_frame(), random_payload(64, static_cast<std::uint64_t>(i)));
  }
  first.signal(SIGTERM);
  second.signal(SIGTERM);
  ASSERT_EQ(first.wait_exit(), 0);
  ASSERT_EQ(second.wait_exit(), 0);
  const long by_first = accepted_in_exit_line(first.stderr_rest());
  const long by_second = accepted_in_exit_line(second.stderr_rest());
  EXPECT_GT(by_first, 0);
  EXPECT_GT(by_second, 0);
  EXPECT_EQ(by_first + by_second, kConnections);
}

// --handover passes the listening sockets themselves: the successor must listen with as many.
TEST(ReusePortTest, HandoverToADifferentLoopCountIsRefusedAndTheOldOneKeepsServing) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ringwire-handover-test-" + std::to_string(::getpid()) + ".sock"))
                               .string();
  ServerProcess first({"--port", "0", "--threads", "2", "--handover", path, "--log-level", "warn"});
  const std::uint16_t port = first.ready_port();
  ASSERT_NE(port, 0);
  ServerProcess second({"--port", std::to_string(port), "--threads", "3", "--handover", path});
  EXPECT_EQ(second.wait_exit(), 1);
  const std::string error = second.stderr_rest();
  EXPECT_NE(error.find("2 socket(s), this process needs 3"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
  TestClient client(port);
  client.send_frame(random_payload(100, 7));
  EXPECT_EQ(client.receive_frame(), random_payload(100, 7));
}

// A draining process offers nothing (its listeners are closing): the successor binds its own.
TEST(ReusePortTest, HandoverFromADrainingProcessBindsItsOwn) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ringwire-handover-drain-" + std::to_string(::getpid()) + ".sock"))
                               .string();
  ServerProcess old(
      {"--port", "0", "--handover", path, "--drain-timeout", "60", "--log-level", "info"});
  const std::uint16_t port = old.ready_port();
  ASSERT_NE(port, 0);
  TestClient held(port);
  held.send_frame(random_payload(10, 1));
  ASSERT_EQ(held.receive_frame().size(), 10u);
  held.send_all(Bytes(2));  // a partial frame: the drain waits for it
  old.signal(SIGTERM);
  ASSERT_NE(old.stderr_line().find("draining"), std::string::npos);
  ServerProcess next(
      {"--port", std::to_string(port), "--handover", path, "--reuse-port", "--log-level", "warn"});
  ASSERT_EQ(next.ready_port(), port);
  TestClient client(port);
  client.send_frame(random_payload(100, 8));
  EXPECT_EQ(client.receive_frame(), random_payload(100, 8));
}

}  // namespace
}  // namespace ringwire::test
