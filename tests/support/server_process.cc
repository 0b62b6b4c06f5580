#include "support/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/test_server.h"

namespace ringwire::test {

using std::chrono::milliseconds;

ServerProcess::ServerProcess(std::vector<std::string> args, ServerProcessOptions options) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error("pipe");
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(RINGWIRE_SERVER_BINARY));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec.
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (options.max_open_files) {
      const rlimit limit{*options.max_open_files, *options.max_open_files};
      if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  stdout_.reset(out[0]);
  stderr_.reset(err[0]);
  if (pid_ < 0) throw std::runtime_error("fork");
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string ServerProcess::read_line(UniqueFd& fd, milliseconds timeout) {
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

std::string ServerProcess::stdout_line(milliseconds timeout) { return read_line(stdout_, timeout); }
std::string ServerProcess::stderr_line(milliseconds timeout) { return read_line(stderr_, timeout); }

std::string ServerProcess::stderr_rest(milliseconds quiet) {
  std::string all, line;
  while (!(line = read_line(stderr_, quiet)).empty()) all += line + "\n";
  return all;
}

std::uint16_t ServerProcess::ready_port() { return port_from_ready_line(stdout_line()); }

int ServerProcess::wait_exit(milliseconds timeout) {
  int status = 0;
  const bool exited =
      wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!exited) return -1;
  exited_ = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ServerProcess::signal(int sig) { ::kill(pid_, sig); }

milliseconds ServerProcess::cpu_time() const {
  std::ifstream file("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat;
  std::getline(file, stat);
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
  // utime and stime are fields 14 and 15.
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return milliseconds(0);
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const auto ticks_per_s = static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
  return milliseconds((utime + stime) * 1000 / ticks_per_s);
}

std::uint64_t ServerProcess::status_bytes(std::string_view field) const {
  std::ifstream file("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.starts_with(field)) return std::stoull(line.substr(field.size())) * 1024;  // "N kB"
  }
  return 0;
}

std::uint16_t port_from_ready_line(const std::string& line) {
  // "listening on 127.0.0.1:7000 (loops=...)" or "listening on [::1]:7000 (...)"
  static constexpr std::string_view kPrefix = "listening on ";
  if (!line.starts_with(kPrefix)) return 0;
  const auto space = line.find(' ', kPrefix.size());
  const auto colon = line.rfind(':', space);
  if (space == std::string::npos || colon == std::string::npos || colon < kPrefix.size()) return 0;
  try {
    return static_cast<std::uint16_t>(std::stoul(line.substr(colon + 1, space - colon - 1)));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace ringwire::test
