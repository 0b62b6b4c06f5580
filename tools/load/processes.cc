#include "processes.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "json_report.h"
#include "merge.h"
#include "ringwire/unique_fd.h"

namespace ringwire::load {

namespace {

// What one child wrote before it ended: its JSON result, or {"start_error": line}.
struct Child {
  pid_t pid = -1;
  UniqueFd out;
  std::string text;
  bool open = true;
};

// In the child: runs its share and writes the result to `fd`; never returns.
[[noreturn]] void child_main(const LoadOptions& share, int fd) {
  nlohmann::json j;
  int status = 0;
  try {
    j = to_json(run_load(share));
  } catch (const StartError& e) {
    j = {{"start_error", e.what()}};
  } catch (const std::exception& e) {
    j = {{"error", e.what()}};
    status = 1;
  }
  const std::string text = j.dump();
  std::size_t at = 0;
  while (at < text.size()) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(1);
    at += static_cast<std::size_t>(n);
  }
  ::_exit(status);  // no destructors of the parent's state, no atexit handlers twice
}

std::size_t share_of(std::size_t total, std::size_t parts, std::size_t index) {
  return total / parts + (index < total % parts ? 1 : 0);
}

}  // namespace

LoadOptions process_share(const LoadOptions& options, std::size_t processes, std::size_t index) {
  LoadOptions share = options;
  share.connections = share_of(options.connections, processes, index);
  share.threads = std::max<std::size_t>(1, share_of(options.threads, processes, index));
  const double fraction =
      static_cast<double>(share.connections) / static_cast<double>(options.connections);
  share.rate = options.rate * fraction;
  share.connect_rate = options.connect_rate * fraction;
  share.live = false;
  share.json_file.clear();
  share.hgrm_file.clear();
  share.hist_log_file.clear();
  return share;
}

LoadResult run_load_processes(const LoadOptions& options, std::size_t processes) {
  if (processes > options.connections) {
    throw StartError(fmt::format("--processes {} exceeds --connections {}: each process needs one",
                                 processes, options.connections));
  }
  if (!options.hist_log_file.empty()) {
    throw StartError("--hist-log is written by one process: not with --processes");
  }
  std::vector<Child> children(processes);
  for (std::size_t i = 0; i < processes; ++i) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    const LoadOptions share = process_share(options, processes, i);
    std::fflush(nullptr);  // nothing buffered is written twice
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pipe_fds[0]);
      child_main(share, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    children[i].out.reset(pipe_fds[0]);
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    children[i].pid = pid;
  }
  // Read every child's pipe to its end, all at once, so no child blocks on a full pipe.
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<Child*> owners;
    for (auto& child : children) {
      if (!child.open) continue;
      fds.push_back({child.out.get(), POLLIN, 0});
      owners.push_back(&child);
    }
    if (fds.empty()) break;
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[65536];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        owners[i]->open = false;
      } else {
        owners[i]->text.append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  std::vector<LoadResult> runs;
  std::vector<std::string> texts;
  std::string start_error;
  for (std::size_t i = 0; i < children.size(); ++i) {
    int status = 0;
    ::waitpid(children[i].pid, &status, 0);
    const nlohmann::json j = nlohmann::json::parse(children[i].text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      throw std::runtime_error(
          fmt::format("process {} ended without a result ({})", i + 1,
                      WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no output"));
    }
    if (j.contains("start_error")) {
      start_error = j.at("start_error").get<std::string>();
      continue;
    }
    if (j.contains("error")) {
      throw std::runtime_error(
          fmt::format("process {}: {}", i + 1, j.at("error").get<std::string>()));
    }
    try {
      runs.push_back(result_from_json(j));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("process {}: {}", i + 1, e.what()));
    }
    texts.push_back(std::move(children[i].text));
  }
  if (!start_error.empty()) throw StartError(start_error);
  LoadResult merged = merge_results(runs);
  // The run as asked for (merge_results summed connections and threads; the rest is the same).
  const std::size_t threads = merged.options.threads;
  merged.options = options;
  merged.options.threads = threads;
  merged.process_json = std::move(texts);
  return merged;
}

}  // namespace ringwire::load
