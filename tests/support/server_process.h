#pragma once
// ServerProcess: a child ringwire-server with its stdout and stderr captured, for tests of the
// binary as a user runs it. Owns the child (killed with SIGKILL and reaped on destruction unless
// it already exited) and both pipes; one thread at a time.
//
// Also reads what a test asserts about the child from /proc: its CPU time (utime + stime) and its
// resident memory (VmRSS), and can start it under a lower descriptor limit (setrlimit in the
// child before exec), the way a user's `ulimit -n` would.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringwire/unique_fd.h"

namespace ringwire::test {

struct ServerProcessOptions {
  // RLIMIT_NOFILE (soft and hard) for the child; none: inherit the test's.
  std::optional<std::uint64_t> max_open_files;
};

class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args, ServerProcessOptions options = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of stdout / stderr, or "" if none comes within the timeout.
  std::string stdout_line(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string stderr_line(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Every stderr line until none comes for `quiet` (or EOF).
  std::string stderr_rest(std::chrono::milliseconds quiet = std::chrono::seconds(2));
  // Reads the ready line ("listening on ADDR:PORT (...)") and returns PORT; 0 if none came.
  std::uint16_t ready_port();

  // The exit status (128 + signal when killed), waiting at most `timeout`; -1 if it did not exit.
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void signal(int sig);

  // CPU time the child has used so far, user + system (clock-tick resolution).
  std::chrono::milliseconds cpu_time() const;
  // Its resident set size now (VmRSS), in bytes.
  std::uint64_t rss_bytes() const { return status_bytes("VmRSS:"); }
  // Its address space now (VmSize), in bytes.
  std::uint64_t address_space_bytes() const { return status_bytes("VmSize:"); }

 private:
  std::uint64_t status_bytes(std::string_view field) const;  // a "kB" line of /proc/PID/status
  static std::string read_line(UniqueFd& fd, std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  bool exited_ = false;
  UniqueFd stdout_, stderr_;
};

// The server's ready line parsed: its port, or 0 when `line` is not one.
std::uint16_t port_from_ready_line(const std::string& line);

}  // namespace ringwire::test
