// ringwire-load as a user runs it: --version.
// Each test runs the binary this build made, with its stdout and stderr captured, against
// loopback only, and kills it if it outlives its bound.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "ringwire/unique_fd.h"

namespace ringwire::load {
namespace {

using Clock = std::chrono::steady_clock;

struct Outcome {
  int status = -1;  // exit status; 128 + signal when killed; -1 when it outlived the bound
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs ringwire-load with `args`, collecting both streams until it exits or `bound` passes (then
// SIGKILL). Both pipes are drained together, so a full one never blocks the child.
Outcome run_load_binary(std::vector<std::string> args,
                        std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe");
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(RINGWIRE_LOAD_BINARY));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  UniqueFd out_fd(out[0]), err_fd(err[0]);
  Outcome outcome;
  if (pid < 0) throw std::runtime_error("fork");
  const auto deadline = start + bound;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && Clock::now() < deadline) {
    pollfd fds[2] = {{out_fd.get(), POLLIN, 0}, {err_fd.get(), POLLIN, 0}};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(fds, 2, static_cast<int>(std::max<long>(left, 1))) < 0) break;
    auto drain = [](pollfd& p, bool& open, std::string& into) {
      if (!open || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
      char buffer[4096];
      const ssize_t n = ::read(p.fd, buffer, sizeof buffer);
      if (n <= 0) {
        open = false;
      } else {
        into.append(buffer, static_cast<std::size_t>(n));
      }
    };
    drain(fds[0], out_open, outcome.out);
    drain(fds[1], err_open, outcome.err);
  }
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      return outcome;  // status -1: it outlived its bound
    }
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 10);  // waiting for the child to be reaped after it closed its pipes
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return outcome;
}

TEST(LoadBinary, VersionPrintsTheProjectVersionAndCommit) {
  const Outcome r = run_load_binary({"--version"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(
      std::regex_match(r.out, std::regex(R"(ringwire-load \d+\.\d+\.\d+ \(commit \S+\)\n)")))
      << r.out;
}

}  // namespace
}  // namespace ringwire::load
