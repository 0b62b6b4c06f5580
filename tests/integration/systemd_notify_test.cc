// ringwire-server under systemd: the sd_notify datagrams it sends to $NOTIFY_SOCKET (a socket the
// test listens on, as systemd would), and `systemd-analyze verify` on the shipped units.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "ringwire/unique_fd.h"
#include "support/server_process.h"
#include "support/test_client.h"

namespace ringwire::test {
namespace {

using namespace std::chrono_literals;

// A datagram socket bound where $NOTIFY_SOCKET will point: "@name" (abstract) or a path.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& name) : name_(name) {
    socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    if (name[0] == '@') address.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (::bind(socket_.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
      throw std::runtime_error("bind " + name + ": " + std::strerror(errno));
    }
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);  // the server inherits it
  }
  ~NotifyListener() {
    ::unsetenv("NOTIFY_SOCKET");
    if (name_[0] == '/') ::unlink(name_.c_str());
  }

  // The next datagram, or "" if none comes within `timeout`.
  std::string next(std::chrono::milliseconds timeout = 10s) {
    pollfd p{socket_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buffer[4096];
    const ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
  }
  // Datagrams until one contains `field` (returned), "" if none within `timeout` in all.
  std::string until(const std::string& field, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string message = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (message.find(field) != std::string::npos) return message;
    }
    return "";
  }

 private:
  std::string name_;
  UniqueFd socket_;
};

bool has_line(const std::string& message, const std::string& line) {
  std::istringstream lines(message);
  std::string each;
  while (std::getline(lines, each)) {
    if (each == line) return true;
  }
  return false;
}

void expect_ready_status_stopping(NotifyListener& notify) {
  ServerProcess server({"--port", "0", "--threads", "2", "--log-level", "warn"});
  const std::uint16_t port = server.ready_port();
  ASSERT_NE(port, 0);
  const std::string ready = notify.next();
  EXPECT_TRUE(has_line(ready, "READY=1")) << ready;  // the first message, after the listeners
  EXPECT_NE(ready.find("STATUS=serving, 0 connection(s) open"), std::string::npos) << ready;
  {
    TestClient client(port);
    client.send_frame(random_payload(10, 1));
    ASSERT_EQ(client.receive_frame().size(), 10u);
    // The periodic status counts the open connection.
    const std::string status = notify.until("STATUS=serving, 1 connection(s) open, 1 accepted");
    EXPECT_FALSE(status.empty());
    EXPECT_EQ(status.find("STOPPING"), std::string::npos) << status;
  }
  server.signal(SIGTERM);
  const std::string stopping = notify.until("STOPPING=1");
  EXPECT_TRUE(has_line(stopping, "STOPPING=1")) << stopping;
  EXPECT_NE(stopping.find("STATUS=draining"), std::string::npos) << stopping;
  EXPECT_EQ(server.wait_exit(), 0);
}

TEST(SystemdNotifyTest, AbstractSocketGetsReadyThenStatusThenStopping) {
  NotifyListener notify("@ringwire-notify-test-" + std::to_string(::getpid()));
  expect_ready_status_stopping(notify);
}

TEST(SystemdNotifyTest, PathSocketGetsReadyThenStatusThenStopping) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("ringwire-notify-" + std::to_string(::getpid())))
          .string();
  NotifyListener notify(path);
  expect_ready_status_stopping(notify);
}

TEST(SystemdNotifyTest, WatchdogIsPettedWhenSystemdAsks) {
  NotifyListener notify("@ringwire-watchdog-test-" + std::to_string(::getpid()));
  ::setenv("WATCHDOG_USEC", "200000", 1);  // 0.2 s: petted every 0.1 s
  ServerProcess server({"--port", "0", "--log-level", "warn"});
  ::unsetenv("WATCHDOG_USEC");
  ASSERT_NE(server.ready_port(), 0);
  EXPECT_TRUE(has_line(notify.next(), "READY=1"));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(has_line(notify.next(1s), "WATCHDOG=1")) << i;
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0);
}

TEST(SystemdNotifyTest, WithoutNotifySocketItStartsAndServes) {
  ::unsetenv("NOTIFY_SOCKET");
  ServerProcess server({"--port", "0", "--log-level", "warn"});
  const std::uint16_t port = server.ready_port();
  ASSERT_NE(port, 0);
  TestClient client(port);
  client.send_frame(random_payload(10, 2));
  EXPECT_EQ(client.receive_frame().size(), 10u);
}

// The unit as shipped: deploy/systemd/NAME.in, which the install configures.
std::string read_unit(const std::string& name) {
  std::ifstream in(std::string(RINGWIRE_SOURCE_DIR "/deploy/systemd/") + name + ".in");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What the units promise each other: systemd waits longer than the drain before SIGKILL, learns
// readiness from the server, and lets it open enough descriptors; the template shares the port.
TEST(SystemdUnitsTest, StopTimeoutOutlastsTheDrainAndLimitsAreRaised) {
  for (const char* name : {"ringwire-server.service", "ringwire-server@.service"}) {
    const std::string unit = read_unit(name);
    ASSERT_FALSE(unit.empty()) << name;
    std::smatch drain, stop, files;
    ASSERT_TRUE(std::regex_search(unit, drain, std::regex(R"(--drain-timeout (\d+))"))) << name;
    ASSERT_TRUE(std::regex_search(unit, stop, std::regex(R"(\nTimeoutStopSec=(\d+)\n)"))) << name;
    EXPECT_GT(std::stoi(stop[1]), std::stoi(drain[1])) << name;
    ASSERT_TRUE(std::regex_search(unit, files, std::regex(R"(\nLimitNOFILE=(\d+)\n)"))) << name;
    EXPECT_GE(std::stoul(files[1]), 65536u) << name;
    EXPECT_NE(unit.find("\nType=notify\n"), std::string::npos) << name;
  }
  const std::string instances = read_unit("ringwire-server@.service");
  EXPECT_NE(instances.find("--reuse-port"), std::string::npos);
  EXPECT_NE(instances.find("--handover"), std::string::npos);
}

// The shipped units, with ExecStart pointing at this build's binary (verify checks it exists).
TEST(SystemdUnitsTest, SystemdAnalyzeVerifyPasses) {
  if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "systemd-analyze is not installed (tools/install-deps.sh installs systemd)";
  }
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ringwire-units-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* unit : {"ringwire-server.service", "ringwire-server@.service"}) {
    const std::string text = read_unit(unit);
    ASSERT_NE(text.find("@CMAKE_INSTALL_FULL_BINDIR@/ringwire-server"), std::string::npos) << unit;
    std::ofstream(dir / unit) << std::regex_replace(
        text, std::regex("@CMAKE_INSTALL_FULL_BINDIR@/ringwire-server"), RINGWIRE_SERVER_BINARY);
  }
  // --man=no: the man page the units name is installed with the package, not in the build tree.
  const std::string command = "cd '" + dir.string() +
                              "' && systemd-analyze verify --man=no ringwire-server.service "
                              "ringwire-server@1.service 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace ringwire::test
