// ringwire-server refuses what it cannot do before it starts anything: --version, every numeric
// flag out of its bounds, and loops that the open-file limit cannot hold. One line, a non-zero exit
// and no ready line, never a ready line followed by an abort.

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "engines/engine.h"
#include "support/server_process.h"
#include "support/test_client.h"

namespace ringwire::test {
namespace {

using std::chrono::milliseconds;

// Exactly one line on stderr, and none on stdout (so no ready line).
std::string one_error_line(ServerProcess& server) {
  const std::string error = server.stderr_rest(milliseconds(500));
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
  EXPECT_EQ(server.stdout_line(milliseconds(100)), "");
  return error;
}

TEST(ServerPreflightTest, VersionNamesVersionCommitBuildTypeBackendsAndEngines) {
  ServerProcess server({"--version"});
  const std::string line = server.stdout_line();
  EXPECT_EQ(server.wait_exit(), 0);
  EXPECT_TRUE(std::regex_match(
      line, std::regex(R"(ringwire-server \d+\.\d+\.\d+ \(commit \S+, )"
                       R"(\w+; backends: epoll( io_uring)?( kqueue\(test-double\))?; )"
                       R"(engines: native( uv)?\))")))
      << line;
}

TEST(ServerPreflightTest, EveryNumericFlagOutOfItsBoundsIsRefusedWithTheBounds) {
  struct Case {
    std::vector<std::string> args;
    std::string bounds;
  };
  const std::vector<Case> cases = {
      {{"--threads", "5000"}, "from 0 to 1024"},
      {{"--threads", "-1"}, "from 0 to 1024"},
      {{"--threads", "2.5"}, "from 0 to 1024"},
      {{"--port", "70000"}, "from 0 to 65535"},
      {{"--port", "-1"}, "from 0 to 65535"},
      {{"--max-frame", "0"}, "from 1 to 1073741824"},
      {{"--max-frame", "4294967296"}, "from 1 to 1073741824"},
      {{"--max-connections", "-1"}, "from 0 to 4294967295"},
      {{"--idle-timeout", "-0.5"}, "from 0 to 31536000"},
      {{"--idle-timeout", "nan"}, "from 0 to 31536000"},
      {{"--drain-timeout", "1e300"}, "from 0 to 31536000"},
      {{"--metrics-port", "65536"}, "from 0 to 65535"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    if (c.args[0] != "--port") args.insert(args.end(), {"--port", "0"});
    ServerProcess server(args);
    EXPECT_EQ(server.wait_exit(), 2) << c.args[0] << " " << c.args[1];
    const std::string error = one_error_line(server);
    EXPECT_NE(error.find(c.args[0] + ": " + c.args[1]), std::string::npos) << error;
    EXPECT_NE(error.find(c.bounds), std::string::npos) << error;
  }
}

TEST(ServerPreflightTest, IntegersAreDecimalNotOctal) {
  ServerProcess server({"--threads", "010", "--port", "0", "--log-level", "warn"});
  const std::string ready = server.stdout_line();
  EXPECT_NE(ready.find("loops=10 "), std::string::npos) << ready;
}

// Loops the open-file limit cannot hold are refused up front, and the --threads the message
// advises does start and serve under the same limit.
TEST(ServerPreflightTest, TooManyLoopsForTheOpenFileLimitAreRefusedAndTheAdviceWorks) {
  constexpr std::uint64_t kLimit = 64;
  for (const std::string& engine : engine_names()) {
    SCOPED_TRACE(engine);
    ServerProcess refused({"--engine", engine, "--threads", "16", "--port", "0"},
                          {.max_open_files = kLimit});
    EXPECT_EQ(refused.wait_exit(), 1);
    const std::string error = one_error_line(refused);
    EXPECT_NE(error.find("open-file limit is 64"), std::string::npos) << error;
    std::smatch advice;
    ASSERT_TRUE(std::regex_search(error, advice, std::regex(R"(--threads (\d+) or fewer)")))
        << error;

    ServerProcess server(
        {"--engine", engine, "--threads", advice[1].str(), "--port", "0", "--log-level", "warn"},
        {.max_open_files = kLimit});
    const std::uint16_t port = server.ready_port();
    ASSERT_NE(port, 0u);
    TestClient client(port);
    client.send_frame(random_payload(100, 1));
    EXPECT_EQ(client.receive_frame(), random_payload(100, 1));
  }
}

}  // namespace
}  // namespace ringwire::test
