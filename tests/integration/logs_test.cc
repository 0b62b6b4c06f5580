// ringwire-server's log lines as an operator reads them: timestamps, levels, loops, JSON, and a
// flood of bad peers that writes a line a second, not a line a peer.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/server_process.h"
#include "support/test_client.h"

namespace ringwire::test {
namespace {

using namespace std::chrono;

constexpr std::uint32_t kMaxFrame = 1024;

// One peer that breaks the protocol: a length over --max-frame. The server closes it (we see EOF).
void bad_peer(std::uint16_t port) {
  TestClient client(port);
  const Bytes header = {std::byte{0}, std::byte{1}, std::byte{0}, std::byte{0}};  // 65536 bytes
  client.send_all(header);
  ASSERT_TRUE(client.wait_closed());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "2026-11-30T23:20:48.123456" (the Z is matched by the caller) as a system_clock time.
system_clock::time_point parse_timestamp(const std::string& text) {
  std::tm utc{};
  std::istringstream in(text.substr(0, 19));
  in >> std::get_time(&utc, "%Y-%m-%dT%H:%M:%S");
  const auto whole = system_clock::from_time_t(::timegm(&utc));
  return whole + microseconds(std::stol(text.substr(20, 6)));
}

TEST(LogsTest, AFloodOfBadPeersWritesALineASecondWithTheSuppressedCount) {
  ServerProcess server({"--port", "0", "--threads", "1", "--max-frame", std::to_string(kMaxFrame),
                        "--log-level", "warn"});
  const std::uint16_t port = server.ready_port();
  ASSERT_NE(port, 0);
  constexpr int kFlood = 1000;
  const auto flood_start = steady_clock::now();
  for (int i = 0; i < kFlood; ++i) bad_peer(port);
  const auto flood_time = steady_clock::now() - flood_start;
  // Pacing, not synchronisation: a peer more than an interval after every line of the flood is
  // logged, with the count of everything suppressed since.
  std::this_thread::sleep_for(milliseconds(1100));
  bad_peer(port);
  server.signal(SIGTERM);
  ASSERT_EQ(server.wait_exit(), 0);
  const std::vector<std::string> lines = lines_of(server.stderr_rest());

  const std::regex pattern(
      R"(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z warn loop=0 127\.0\.0\.1:\d+: protocol error: )"
      R"(frame length over --max-frame \(length 65536, limit 1024\).*?)"
      R"((?: \[(\d+) more peer warning\(s\) suppressed since the last line\])?$)");
  std::uint64_t accounted = 0;
  std::vector<system_clock::time_point> times;
  for (const std::string& line : lines) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, pattern)) << line;
    times.push_back(parse_timestamp(match[1]));
    accounted += 1 + (match[2].matched ? std::stoull(match[2]) : 0);
  }
  EXPECT_EQ(accounted, kFlood + 1u) << "every bad peer is one line or counted in one";
  ASSERT_GE(times.size(), 2u);
  const double flood_seconds = duration<double>(flood_time).count();
  EXPECT_LE(times.size(), static_cast<std::size_t>(flood_seconds) + 3) << flood_seconds << " s";
  for (std::size_t i = 1; i < times.size(); ++i) {
    // The limiter reads the loop's clock of the turn; the stamp is taken when the line is
    // written, later in a turn that a loaded machine may stretch: allow for that.
    EXPECT_GE(times[i] - times[i - 1], milliseconds(750)) << lines[i];
  }
  EXPECT_LT(abs(system_clock::now() - times.back()), seconds(60)) << "UTC now: " << lines.back();
}

TEST(LogsTest, JsonFormatWritesOneObjectPerLineWithTheLoop) {
  ServerProcess server({"--port", "0", "--threads", "2", "--max-frame", std::to_string(kMaxFrame),
                        "--log-format", "json", "--log-level", "info"});
  const std::uint16_t port = server.ready_port();
  ASSERT_NE(port, 0);
  const auto start = steady_clock::now();
  for (int i = 0; i < 20; ++i) bad_peer(port);
  const auto seconds_taken = duration_cast<seconds>(steady_clock::now() - start).count();
  server.signal(SIGTERM);
  ASSERT_EQ(server.wait_exit(), 0);
  const std::vector<std::string> lines = lines_of(server.stderr_rest());
  const std::regex time_pattern(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$)");
  int warnings = 0;
  bool drain_line = false;
  for (const std::string& line : lines) {
    nlohmann::json json;
    ASSERT_NO_THROW(json = nlohmann::json::parse(line)) << line;
    ASSERT_TRUE(json.is_object()) << line;
    EXPECT_TRUE(std::regex_match(json.at("time").get<std::string>(), time_pattern)) << line;
    const std::string level = json.at("level");
    const std::string message = json.at("message");
    if (level == "warn") {
      ++warnings;
      EXPECT_NE(message.find("protocol error"), std::string::npos) << line;
      ASSERT_TRUE(json.contains("loop")) << "a peer's warning names its loop: " << line;
      EXPECT_LT(json.at("loop").get<int>(), 2) << line;
    }
    if (message.find("draining") != std::string::npos) {
      drain_line = true;
      EXPECT_FALSE(json.contains("loop")) << "the main thread is no loop: " << line;
    }
  }
  EXPECT_GE(warnings, 1);
  EXPECT_LE(warnings, 2 * (1 + seconds_taken)) << "one line a second per loop, not one a peer";
  EXPECT_TRUE(drain_line);
}

}  // namespace
}  // namespace ringwire::test
