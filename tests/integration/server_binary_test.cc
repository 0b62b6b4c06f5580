// ringwire-server as a user runs it: the ready line, flags, start-up failures and signals.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/test_client.h"
#include "support/test_server.h"

namespace ringwire::test {
namespace {

using std::chrono::milliseconds;

// A child ringwire-server with its stdout and stderr captured. Killed on destruction.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(RINGWIRE_SERVER_BINARY));
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    stdout_.reset(out[0]);
    stderr_.reset(err[0]);
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // The next line on stdout, or "" if none comes within the timeout.
  std::string read_line(UniqueFd& fd, milliseconds timeout = milliseconds(10000)) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return line;
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return line;
      char c;
      if (::read(fd.get(), &c, 1) != 1) return line;
      if (c == '\n') return line;
      line += c;
    }
  }
  std::string stdout_line() { return read_line(stdout_); }
  std::string stderr_line() { return read_line(stderr_); }
  std::string stderr_rest() {
    std::string all, line;
    while (!(line = read_line(stderr_, milliseconds(2000))).empty()) all += line + "\n";
    return all;
  }

  // The exit status, waiting at most `timeout`; -1 if it did not exit.
  int wait_exit(milliseconds timeout = milliseconds(10000)) {
    int status = 0;
    const bool exited =
        wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void signal(int sig) { ::kill(pid_, sig); }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  UniqueFd stdout_, stderr_;
};

std::uint16_t port_of(const std::string& ready_line) {
  std::smatch match;
  std::regex pattern(
      R"(^listening on 127\.0\.0\.1:(\d+) \(loops=(\d+) engine=native backend=epoll service=echo\)$)");
  if (!std::regex_match(ready_line, match, pattern)) return 0;
  return static_cast<std::uint16_t>(std::stoi(match[1]));
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

TEST(ServerBinaryTest, BadFlagExitsNonZeroWithOneLine) {
  ServerProcess server({"--threads", "many"});
  EXPECT_EQ(server.wait_exit(), 2);
  const std::string error = server.stderr_rest();
  EXPECT_NE(error.find("--threads"), std::string::npos) << error;
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
}

TEST(ServerBinaryTest, UnknownServiceIsRefused) {
  ServerProcess server({"--service", "ping"});
  EXPECT_EQ(server.wait_exit(), 2);
  EXPECT_NE(server.stderr_rest().find("ping"), std::string::npos);
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
  TestClient client(port);
  Bytes stream;
  const Bytes frame = make_frame(4096, 1);
  for (int i = 0; i < 100; ++i) stream.insert(stream.end(), frame.begin(), frame.end());
  client.send_all(stream);
  EXPECT_EQ(client.receive_frame().size(), 4096u);  // it is being served: now signal
  server.signal(SIGTERM);
  for (int i = 1; i < 100; ++i) ASSERT_EQ(client.receive_frame().size(), 4096u);
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(server.wait_exit(), 0);
  EXPECT_THROW(TestClient{port}, std::system_error);
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

TEST(ServerBinaryTest, MetricsEndpointServesPerLoopCountersAsPrometheusText) {
  ServerProcess server({"--port", "0", "--threads", "2", "--metrics-port", "0"});
  const std::uint16_t port = port_of(server.stdout_line());
  ASSERT_NE(port, 0);
  const std::string metrics_line = server.stderr_line();
  std::smatch match;
  ASSERT_TRUE(
      std::regex_search(metrics_line, match, std::regex(R"(http://127\.0\.0\.1:(\d+)/metrics)")))
      << metrics_line;
  const auto metrics_port = static_cast<std::uint16_t>(std::stoi(match[1]));
  {
    TestClient client(port);
    for (int i = 0; i < 3; ++i) {
      client.send_frame(random_payload(10, 1));
      ASSERT_EQ(client.receive_frame().size(), 10u);
    }
  }
  TestClient scraper(metrics_port);
  const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
  scraper.send_all(std::as_bytes(std::span(request)));
  std::string response;
  char c;
  while (::recv(scraper.fd(), &c, 1, 0) == 1) response += c;
  EXPECT_TRUE(response.starts_with("HTTP/1.0 200 OK")) << response;
  EXPECT_NE(response.find("ringwire_connections_open{loop=\"1\"}"), std::string::npos);
  // The three frames were counted on whichever loop took the connection.
  std::regex frames(R"(ringwire_frames_received_total\{loop="\d"\} 3)");
  EXPECT_TRUE(std::regex_search(response, frames)) << response;
  EXPECT_NE(response.find("reason=\"peer_closed\""), std::string::npos);
}

}  // namespace
}  // namespace ringwire::test
