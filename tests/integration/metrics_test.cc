// ringwire-server's metrics endpoint as Prometheus and a load balancer use it: an exposition that
// promtool accepts, histograms, process and build metrics, HEAD and query strings, /healthz.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "ringwire/stats.h"
#include "support/server_process.h"
#include "support/test_client.h"

namespace ringwire::test {
namespace {

using namespace std::chrono_literals;

// The port in the server's "metrics on http://HOST:PORT/metrics" line; 0 if none came.
std::uint16_t metrics_port(ServerProcess& server, const std::string& host = "127.0.0.1") {
  for (int i = 0; i < 5; ++i) {
    const std::string line = server.stderr_line();
    std::smatch match;
    const std::regex pattern("http://" + std::regex_replace(host, std::regex(R"(\.)"), R"(\.)") +
                             R"(:(\d+)/metrics)");
    if (std::regex_search(line, match, pattern)) {
      return static_cast<std::uint16_t>(std::stoi(match[1]));
    }
    if (line.empty()) break;
  }
  return 0;
}

// One HTTP request, the whole response (head and body) read until the server closes.
std::string http(std::uint16_t port, const std::string& request, const char* host = "127.0.0.1") {
  TestClient client(port, host);
  client.send_all(std::as_bytes(std::span(request)));
  std::string response;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(client.fd(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  return response;
}

std::string body_of(const std::string& response) {
  const std::size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

// The sum over loops of a metric's samples whose line starts with `prefix` (the name and the
// labels before loop: "ringwire_frame_size_bytes_count{").
double sum_over_loops(const std::string& body, const std::string& name,
                      const std::string& extra_labels = "") {
  const std::regex pattern("(^|\\n)" + name + R"(\{loop="\d+")" + extra_labels + R"(\} (\S+))");
  double sum = 0;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    sum += std::stod((*it)[2]);
  }
  return sum;
}

TEST(MetricsTest, ExpositionPassesPromtoolWithHistogramsProcessAndBuildInfo) {
  ServerProcess server({"--port", "0", "--threads", "2", "--metrics-port", "0"});
  const std::uint16_t port = server.ready_port();
  ASSERT_NE(port, 0);
  const std::uint16_t metrics = metrics_port(server);
  ASSERT_NE(metrics, 0);
  {
    TestClient client(port);
    for (const std::size_t size : {10u, 10u, 10u, 1000u}) {
      client.send_frame(random_payload(size, 1));
      ASSERT_EQ(client.receive_frame().size(), size);
    }
  }
  const std::string response = http(metrics, "GET /metrics HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(response.starts_with("HTTP/1.0 200 OK\r\n")) << response;
  const std::string body = body_of(response);

  // Units last, before _total (Prometheus's naming); the old names are gone.
  for (const char* name : {"ringwire_received_bytes_total", "ringwire_sent_bytes_total",
                           "ringwire_dropped_trailing_bytes_total", "ringwire_ring_lent_bytes"}) {
    EXPECT_NE(body.find(fmt::format("\n# TYPE {} ", name)), std::string::npos) << name;
  }
  for (const char* old : {"ringwire_bytes_received_total", "ringwire_ring_bytes_lent",
                          "ringwire_trailing_bytes_dropped_total"}) {
    EXPECT_EQ(body.find(old), std::string::npos) << old;
  }
  // Three 10-byte frames and a 1000-byte one, on whichever loop took the connection.
  EXPECT_EQ(sum_over_loops(body, "ringwire_frame_size_bytes_count"), 4);
  EXPECT_EQ(sum_over_loops(body, "ringwire_frame_size_bytes_sum"), 1030);
  EXPECT_EQ(sum_over_loops(body, "ringwire_frame_size_bytes_bucket", R"(,le="16")"), 3);
  EXPECT_EQ(sum_over_loops(body, "ringwire_frame_size_bytes_bucket", R"(,le="1024")"), 4);
  EXPECT_EQ(sum_over_loops(body, "ringwire_frame_size_bytes_bucket", R"(,le="\+Inf")"), 4);
  EXPECT_GT(sum_over_loops(body, "ringwire_loop_turn_seconds_count"), 0);
  EXPECT_NE(body.find("\n# TYPE ringwire_loop_turn_seconds histogram\n"), std::string::npos);
  const std::regex build(
      R"(\nringwire_build_info\{version="\d+\.\d+\.\d+",commit="[^"]+",engine="native",)"
      R"(backend="[a-z_]+"\} 1\n)");
  EXPECT_TRUE(std::regex_search(body, build)) << body;
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
    std::smatch match;
    ASSERT_TRUE(std::regex_search(body, match, std::regex(fmt::format(R"(\n{} (\S+)\n)", name))))
        << name;
    EXPECT_GE(std::stod(match[1]), 0) << name;
  }
  std::smatch rss;
  ASSERT_TRUE(std::regex_search(body, rss, std::regex(R"(\nprocess_resident_memory_bytes (\S+))")));
  EXPECT_GT(std::stod(rss[1]), 1e6) << "a running server holds at least a megabyte";
  std::smatch start;
  ASSERT_TRUE(std::regex_search(body, start, std::regex(R"(\nprocess_start_time_seconds (\S+))")));
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_NEAR(std::stod(start[1]), now, 120) << "started just now";

  // promtool (Debian's prometheus package, installed by tools/install-deps.sh) lints the text.
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (tools/install-deps.sh installs the Debian package "
                    "prometheus): the exposition was not linted";
  }
  const auto path =
      std::filesystem::temp_directory_path() / fmt::format("ringwire-metrics-{}.txt", ::getpid());
  std::ofstream(path) << body;
  const std::string command = fmt::format("promtool check metrics < '{}' 2>&1", path.string());
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  std::filesystem::remove(path);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "promtool's complaints";
}

TEST(MetricsTest, HeadAndQueryStringsAreServedOtherMethodsGet405) {
  ServerProcess server({"--port", "0", "--metrics-port", "0"});
  ASSERT_NE(server.ready_port(), 0);
  const std::uint16_t metrics = metrics_port(server);
  ASSERT_NE(metrics, 0);

  const std::string head = http(metrics, "HEAD /metrics HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(head.starts_with("HTTP/1.0 200 OK\r\n")) << head;
  std::smatch length;
  ASSERT_TRUE(std::regex_search(head, length, std::regex(R"(Content-Length: (\d+)\r\n)")));
  EXPECT_GT(std::stoul(length[1]), 1000u) << "the length the GET would have";
  EXPECT_EQ(body_of(head), "") << "HEAD has no body";

  const std::string query = http(metrics, "GET /metrics?x=1&name[]=y HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(query.starts_with("HTTP/1.0 200 OK\r\n")) << query;
  EXPECT_NE(body_of(query).find("# TYPE ringwire_frames_received_total counter"),
            std::string::npos);

  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const std::string refused =
        http(metrics, fmt::format("{} /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", method));
    EXPECT_TRUE(refused.starts_with("HTTP/1.0 405 Method Not Allowed\r\n")) << refused;
    EXPECT_NE(refused.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << refused;
  }
  EXPECT_TRUE(http(metrics, "GET /nothing HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404 "));
}

TEST(MetricsTest, HealthzIs200WhileServingAnd503WhileDraining) {
  ServerProcess server(
      {"--port", "0", "--metrics-port", "0", "--drain-timeout", "30", "--log-level", "info"});
  const std::uint16_t port = server.ready_port();
  ASSERT_NE(port, 0);
  const std::uint16_t metrics = metrics_port(server);
  ASSERT_NE(metrics, 0);
  const std::string serving = http(metrics, "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(serving.starts_with("HTTP/1.0 200 OK\r\n")) << serving;
  EXPECT_EQ(body_of(serving), "serving\n");

  TestClient client(port);
  client.send_frame(random_payload(10, 1));
  ASSERT_EQ(client.receive_frame().size(), 10u);  // accepted and served
  client.send_all(Bytes(2));  // a partial frame: never quiet, so the drain waits for it
  server.signal(SIGTERM);
  EXPECT_NE(server.stderr_line().find("draining"), std::string::npos);
  const std::string draining = http(metrics, "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(draining.starts_with("HTTP/1.0 503 Service Unavailable\r\n")) << draining;
  EXPECT_EQ(body_of(draining), "draining\n");
  EXPECT_TRUE(http(metrics, "HEAD /healthz HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 503 "));
  // Metrics are still scraped while draining.
  EXPECT_TRUE(http(metrics, "GET /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200 OK\r\n"));

  client.close();  // the last connection goes: the drain ends
  EXPECT_EQ(server.wait_exit(), 0);
}

// With every descriptor in use, a scrape is still answered (on the listener's reserve descriptor),
// and what it shows is the shedding going on.
TEST(MetricsTest, ScrapeIsAnsweredWhileTheDescriptorTableIsFull) {
  constexpr std::uint64_t kDescriptorLimit = 64;
  ServerProcess server({"--port", "0", "--metrics-port", "0", "--threads", "1"},
                       {.max_open_files = kDescriptorLimit});
  const std::uint16_t port = server.ready_port();
  ASSERT_NE(port, 0);
  const std::uint16_t metrics = metrics_port(server);
  ASSERT_NE(metrics, 0);
  // Fill the table: connect until the server sheds one instead of serving it.
  std::vector<std::unique_ptr<TestClient>> held;
  for (;;) {
    ASSERT_LT(held.size(), kDescriptorLimit) << "the server never ran out of descriptors";
    auto client = std::make_unique<TestClient>(port, "127.0.0.1", 5s);
    if (!echoes(*client, random_payload(10, held.size()))) break;
    held.push_back(std::move(client));
  }
  for (int i = 0; i < 3; ++i) {
    const std::string response = http(metrics, "GET /metrics HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(response.starts_with("HTTP/1.0 200 OK\r\n")) << "scrape " << i << ": " << response;
    EXPECT_GE(sum_over_loops(body_of(response), "ringwire_connections_shed_total"), 1) << response;
    EXPECT_EQ(sum_over_loops(body_of(response), "ringwire_connections_open"),
              static_cast<double>(held.size()))
        << response;
  }
  held.clear();  // and the server recovers
  TestClient client(port);
  client.send_frame(random_payload(10, 1));
  EXPECT_EQ(client.receive_frame().size(), 10u);
}

TEST(MetricsTest, MetricsBindPutsTheEndpointOnItsOwnAddress) {
  ServerProcess server(
      {"--port", "0", "--bind", "127.0.0.1", "--metrics-port", "0", "--metrics-bind", "127.0.0.2"});
  ASSERT_NE(server.ready_port(), 0);
  const std::uint16_t metrics = metrics_port(server, "127.0.0.2");
  ASSERT_NE(metrics, 0);
  EXPECT_TRUE(
      http(metrics, "GET /healthz HTTP/1.0\r\n\r\n", "127.0.0.2").starts_with("HTTP/1.0 200"));
}

}  // namespace
}  // namespace ringwire::test
