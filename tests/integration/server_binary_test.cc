// ringwire-server as a user runs it: the ready line, flags, start-up failures and signals.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "engines/engine.h"
#include "ringwire/stats.h"
#include "support/server_process.h"
#include "support/test_client.h"
#include "support/test_server.h"

namespace ringwire::test {
namespace {

using std::chrono::milliseconds;

std::uint16_t port_of(const std::string& ready_line, const std::string& engine = "native",
                      const std::string& backend = "epoll") {
  std::smatch match;
  std::regex pattern(R"(^listening on 127\.0\.0\.1:(\d+) \(loops=(\d+) engine=)" + engine +
                     " backend=" + backend + R"( service=echo\)$)");
  if (!std::regex_match(ready_line, match, pattern)) return 0;
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

// Pipelines 100 frames, signals after the first reply: every frame is answered, then the server
// closes the connection, exits 0 and no longer accepts.
void expect_sigterm_drains(ServerProcess& server, std::uint16_t port) {
  TestClient client(port);
  Bytes stream;
  const Bytes frame = make_frame(4096, 1);
  for (int i = 0; i < 100; ++i) stream.insert(stream.end(), frame.begin(), frame.end());
  client.send_all(stream);
  EXPECT_EQ(client.receive_frame().size(), 4096u);  // it is being served: now signal
  server.signal(SIGTERM);
  for (int i = 1; i < 100; ++i) ASSERT_EQ(client.receive_frame().size(), 4096u);
  EXPECT_TRUE(client.wait_closed());
  client.close();  // the server shut its side first and waits (lingers) for ours
  EXPECT_EQ(server.wait_exit(), 0);
  EXPECT_THROW(TestClient{port}, std::system_error);
}

TEST(ServerBinaryTest, PrintsTheReadyLineAndServes) {
  ServerProcess server({"--port", "0", "--threads", "2", "--log-level", "warn"});
  const std::string ready = server.stdout_line();
  const std::uint16_t port = port_of(ready);
  ASSERT_NE(port, 0) << ready;
  EXPECT_NE(ready.find("loops=2"), std::string::npos);
  TestClient client(port);
  client.send_frame(random_payload(1000, 3));
  EXPECT_EQ(client.receive_frame(), random_payload(1000, 3));
}

#if RINGWIRE_KQUEUE_DOUBLE
// On Linux "kqueue" is the test double on epoll: the ready line and --help must say so.
TEST(ServerBinaryTest, TheKqueueTestDoubleSaysSoAndServes) {
  ServerProcess server({"--backend", "kqueue", "--port", "0", "--log-level", "warn"});
  const std::string ready = server.stdout_line();
  const std::uint16_t port = port_of(ready, "native", R"(kqueue\(test-double\))");
  ASSERT_NE(port, 0) << ready;
  TestClient client(port);
  client.send_frame(random_payload(1000, 5));
  EXPECT_EQ(client.receive_frame(), random_payload(1000, 5));

  ServerProcess help({"--help"});
  const std::string note = "kqueue here is the Linux test double";
  std::string text;  // help has blank lines: read a bounded number (at EOF each returns at once)
  for (int i = 0; i < 200 && text.find(note) == std::string::npos; ++i) {
    text += help.stdout_line() + "\n";
  }
  EXPECT_NE(text.find(note), std::string::npos) << text;
  EXPECT_EQ(help.wait_exit(), 0);
}
#endif

TEST(ServerBinaryTest, BadFlagExitsNonZeroWithOneLine) {
  ServerProcess server({"--threads", "many"});
  EXPECT_EQ(server.wait_exit(), 2);
  const std::string error = server.stderr_rest();
  EXPECT_NE(error.find("--threads"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
}

TEST(ServerBinaryTest, BadBalanceExitsNonZeroWithOneLine) {
  ServerProcess server({"--balance", "fair", "--port", "0"});
  EXPECT_EQ(server.wait_exit(), 2);
  const std::string error = server.stderr_rest();
  EXPECT_NE(error.find("--balance"), std::string::npos) << error;
  EXPECT_NE(error.find("fair"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
  EXPECT_EQ(server.stdout_line(std::chrono::milliseconds(100)), "");  // no ready line
}

TEST(ServerBinaryTest, UnknownServiceIsRefused) {
  ServerProcess server({"--service", "ping"});
  EXPECT_EQ(server.wait_exit(), 2);
  EXPECT_NE(server.stderr_rest().find("ping"), std::string::npos);
}

// Built with -DRINGWIRE_WITH_UV=OFF, the server has no uv engine.
bool built_with_uv() {
  const std::vector<std::string> engines = engine_names();
  return std::find(engines.begin(), engines.end(), "uv") != engines.end();
}

TEST(ServerBinaryTest, UvEngineNotBuiltIsRefusedInOneLine) {
  if (built_with_uv()) GTEST_SKIP() << "this build has the uv engine (RINGWIRE_WITH_UV=ON)";
  ServerProcess server({"--engine", "uv", "--port", "0"});
  EXPECT_EQ(server.wait_exit(), 2);
  const std::string error = server.stderr_rest();
  EXPECT_NE(error.find("no libuv engine"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
  EXPECT_EQ(server.stdout_line(std::chrono::milliseconds(100)), "");  // no ready line
}

TEST(ServerBinaryTest, BackendWithTheUvEngineIsRefusedNotIgnored) {
  if (!built_with_uv()) GTEST_SKIP() << "built without the uv engine";
  ServerProcess server({"--engine", "uv", "--backend", "epoll", "--port", "0"});
  EXPECT_EQ(server.wait_exit(), 2);
  const std::string error = server.stderr_rest();
  EXPECT_NE(error.find("--backend"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
}

TEST(ServerBinaryTest, PortInUseExitsNonZeroWithOneClearLine) {
  ServerProcess first({"--port", "0", "--log-level", "warn"});
  const std::uint16_t port = port_of(first.stdout_line());
  ASSERT_NE(port, 0);
  ServerProcess second({"--port", std::to_string(port)});
  EXPECT_EQ(second.wait_exit(), 1);
  const std::string error = second.stderr_rest();
  EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
  EXPECT_NE(error.find(std::to_string(port)), std::string::npos) << error;
}

TEST(ServerBinaryTest, SigtermDrainsPipelinedFramesThenExitsZero) {
  ServerProcess server({"--port", "0", "--log-level", "info"});
  const std::uint16_t port = port_of(server.stdout_line());
  ASSERT_NE(port, 0);
  expect_sigterm_drains(server, port);
}

TEST(ServerBinaryTest, SecondSignalExitsAtOnce) {
  ServerProcess server({"--port", "0", "--drain-timeout", "60", "--log-level", "info"});
  const std::uint16_t port = port_of(server.stdout_line());
  ASSERT_NE(port, 0);
  TestClient client(port);
  client.send_frame(random_payload(10, 1));
  ASSERT_EQ(client.receive_frame().size(), 10u);  // accepted and served
  client.send_all(Bytes(2));  // a partial frame: never quiet, so the drain would wait 60 s
  server.signal(SIGTERM);
  EXPECT_NE(server.stderr_line().find("draining"), std::string::npos);
  server.signal(SIGINT);
  EXPECT_EQ(server.wait_exit(milliseconds(5000)), 128 + SIGINT);
}

TEST(ServerBinaryTest, UvEngineServesRefusesAPortInUseAndDrainsOnSigterm) {
  if (!built_with_uv()) GTEST_SKIP() << "built without the uv engine";
  ServerProcess server({"--engine", "uv", "--port", "0", "--threads", "2", "--log-level", "warn"});
  const std::string ready = server.stdout_line();
  const std::uint16_t port = port_of(ready, "uv", "libuv");
  ASSERT_NE(port, 0) << ready;
  ServerProcess second({"--engine", "uv", "--port", std::to_string(port)});
  EXPECT_EQ(second.wait_exit(), 1);
  EXPECT_NE(second.stderr_rest().find("Address already in use"), std::string::npos);
  expect_sigterm_drains(server, port);
}

// The metrics port from the server's "metrics on http://..." log line; 0 (and a failure) if none.
std::uint16_t metrics_port_of(ServerProcess& server) {
  const std::string metrics_line = server.stderr_line();
  std::smatch match;
  if (!std::regex_search(metrics_line, match, std::regex(R"(http://127\.0\.0\.1:(\d+)/metrics)"))) {
    ADD_FAILURE() << metrics_line;
    return 0;
  }
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

// One GET /metrics: the whole response, headers and body.
std::string scrape(std::uint16_t metrics_port) {
  TestClient scraper(metrics_port);
  const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
  scraper.send_all(std::as_bytes(std::span(request)));
  std::string response;
  char c;
  while (::recv(scraper.fd(), &c, 1, 0) == 1) response += c;
  return response;
}

TEST(ServerBinaryTest, MetricsEndpointServesPerLoopCountersAsPrometheusText) {
  ServerProcess server({"--port", "0", "--threads", "2", "--metrics-port", "0"});
  const std::uint16_t port = port_of(server.stdout_line());
  ASSERT_NE(port, 0);
  const std::uint16_t metrics_port = metrics_port_of(server);
  ASSERT_NE(metrics_port, 0);
  {
    TestClient client(port);
    for (int i = 0; i < 3; ++i) {
      client.send_frame(random_payload(10, 1));
      ASSERT_EQ(client.receive_frame().size(), 10u);
    }
  }
  const std::string response = scrape(metrics_port);
  EXPECT_TRUE(response.starts_with("HTTP/1.0 200 OK")) << response;
  EXPECT_NE(response.find("ringwire_connections_open{loop=\"1\"}"), std::string::npos);
  // The three frames were counted on whichever loop took the connection.
  std::regex frames(R"(ringwire_frames_received_total\{loop="\d"\} 3)");
  EXPECT_TRUE(std::regex_search(response, frames)) << response;
  EXPECT_NE(response.find("reason=\"peer_closed\""), std::string::npos);
  EXPECT_NE(response.find("# TYPE ringwire_connections_shed_total counter\n"), std::string::npos)
      << response;
  EXPECT_NE(response.find("ringwire_connections_shed_total{loop=\"0\"} 0\n"), std::string::npos)
      << response;
}

// Every counter of the table, and every close reason, is on /metrics with its HELP and TYPE
// lines and a value for each loop: a counter cannot be counted and left unexported.
TEST(ServerBinaryTest, MetricsEndpointExportsEveryCounterOfTheTable) {
  ServerProcess server({"--port", "0", "--threads", "2", "--metrics-port", "0"});
  ASSERT_NE(port_of(server.stdout_line()), 0);
  const std::uint16_t metrics_port = metrics_port_of(server);
  ASSERT_NE(metrics_port, 0);
  const std::string response = scrape(metrics_port);
  ASSERT_TRUE(response.starts_with("HTTP/1.0 200 OK")) << response;
  const auto has = [&](const std::string& text) {
    return response.find(text) != std::string::npos;
  };
  for (const CounterInfo& counter : kCounters) {
    const std::string name(counter.metric);
    EXPECT_TRUE(has(fmt::format("\n# HELP {} {}\n", name, counter.help))) << name;
    EXPECT_TRUE(has(fmt::format("\n# TYPE {} {}\n", name, to_string(counter.type)))) << name;
    for (int loop = 0; loop < 2; ++loop) {
      EXPECT_TRUE(has(fmt::format("\n{}{{loop=\"{}\"}} ", name, loop))) << name;
    }
  }
  EXPECT_TRUE(has(fmt::format("\n# HELP {} {}\n", kClosedMetric, kClosedHelp)));
  EXPECT_TRUE(has(fmt::format("\n# TYPE {} counter\n", kClosedMetric)));
  for (std::size_t reason = 0; reason < kCloseReasonCount; ++reason) {
    const std::string_view label = to_string(static_cast<CloseReason>(reason));
    for (int loop = 0; loop < 2; ++loop) {
      EXPECT_TRUE(
          has(fmt::format("\n{}{{loop=\"{}\",reason=\"{}\"}} 0\n", kClosedMetric, loop, label)))
          << label;
    }
  }
  EXPECT_TRUE(has("\n# TYPE ringwire_connections_shed_total counter\n"));
}

// The number just before `words` in `line` ("... 3 frame(s) received, ..."), or -1.
long long value_before(const std::string& line, std::string_view words) {
  const std::size_t at = line.find(fmt::format(" {}", words));
  if (at == std::string::npos) return -1;
  std::size_t start = at;
  while (start > 0 && std::isdigit(static_cast<unsigned char>(line[start - 1]))) --start;
  if (start == at) return -1;
  return std::stoll(line.substr(start, at - start));
}

// The exit line walks the same table: every counter and every close reason, each with its value.
TEST(ServerBinaryTest, ExitLineReportsEveryCounterAndCloseReason) {
  ServerProcess server({"--port", "0", "--threads", "2", "--log-level", "info"});
  const std::uint16_t port = port_of(server.stdout_line());
  ASSERT_NE(port, 0);
  TestClient client(port);
  client.send_frame(random_payload(10, 1));
  ASSERT_EQ(client.receive_frame().size(), 10u);
  server.signal(SIGTERM);
  EXPECT_TRUE(client.wait_closed());  // quiet, so drained
  client.close();
  ASSERT_EQ(server.wait_exit(), 0);
  const std::string log = server.stderr_rest();
  const std::size_t at = log.find("stopped:");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string line = log.substr(at, log.find('\n', at) - at);
  for (const CounterInfo& counter : kCounters) {
    EXPECT_GE(value_before(line, counter.summary), 0) << counter.summary << " in " << line;
  }
  for (std::size_t reason = 0; reason < kCloseReasonCount; ++reason) {
    const std::string_view words = summary(static_cast<CloseReason>(reason));
    EXPECT_GE(value_before(line, words), 0) << words << " in " << line;
  }
  EXPECT_EQ(value_before(line, "connection(s) accepted"), 1) << line;
  EXPECT_EQ(value_before(line, "frame(s) received"), 1) << line;
  EXPECT_EQ(value_before(line, summary(CloseReason::kDrained)), 1) << line;
  EXPECT_EQ(value_before(line, "connection(s) still open"), 0) << line;
}

}  // namespace
}  // namespace ringwire::test
