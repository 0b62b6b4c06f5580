#include "processes.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "json_report.h"
#include "merge.h"
#include "ringwire/unique_fd.h"

namespace ringwire::load {

namespace {

// The stage bytes a child writes before its JSON (which begins with '{').
constexpr char kConnected = 'C';
constexpr char kWindowStart = 'S';
constexpr char kMidWindow = 'M';
constexpr char kWindowEnd = 'E';
constexpr std::string_view kStages = "CSME";

// What one child wrote before it ended: its JSON result, or {"start_error": line}.
struct Child {
  pid_t pid = -1;
  UniqueFd out;  // the child's stage bytes, then its JSON
  UniqueFd go;   // closed by the parent once every child has connected
  std::string text;
  std::string stages;  // the stage bytes seen so far
  bool open = true;
};

void write_all(int fd, std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(1);
    at += static_cast<std::size_t>(n);
  }
}

// In the child: runs its share, telling its stages on `fd` and waiting at `go` once connected;
// then writes the result to `fd`. Never returns.
[[noreturn]] void child_main(const LoadOptions& share, int fd, int go) {
  RunHooks hooks;
  hooks.connected = [fd, go] {
    write_all(fd, std::string_view(&kConnected, 1));
    char byte = 0;
    while (::read(go, &byte, 1) < 0 && errno == EINTR) {
    }  // end of file: the parent let every child go (or the parent is gone)
  };
  hooks.window_start = [fd] { write_all(fd, std::string_view(&kWindowStart, 1)); };
  hooks.mid_window = [fd] { write_all(fd, std::string_view(&kMidWindow, 1)); };
  hooks.window_end = [fd] { write_all(fd, std::string_view(&kWindowEnd, 1)); };
  nlohmann::json j;
  int status = 0;
  try {
    j = to_json(run_load(share, hooks));
  } catch (const StartError& e) {
    j = {{"start_error", e.what()}};
  } catch (const std::exception& e) {
    j = {{"error", e.what()}};
    status = 1;
  }
  write_all(fd, j.dump());
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

LoadResult run_load_processes(const LoadOptions& options, std::size_t processes,
                              const RunHooks& hooks) {
  if (processes > options.connections) {
    throw StartError(fmt::format("--processes {} exceeds --connections {}: each process needs one",
                                 processes, options.connections));
  }
  if (!options.hist_log_file.empty()) {
    throw StartError("--hist-log is written by one process: not with --processes");
  }
  std::vector<Child> children(processes);
  for (std::size_t i = 0; i < processes; ++i) {
    int out_fds[2], go_fds[2];
    if (::pipe2(out_fds, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    if (::pipe2(go_fds, O_CLOEXEC) != 0) {
      ::close(out_fds[0]);
      ::close(out_fds[1]);
      throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    const LoadOptions share = process_share(options, processes, i);
    std::fflush(nullptr);  // nothing buffered is written twice
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(out_fds[0]);
      ::close(go_fds[1]);
      // The earlier children's pipes: a go pipe held open here would never reach its end.
      for (std::size_t j = 0; j < i; ++j) {
        children[j].out.reset();
        children[j].go.reset();
      }
      child_main(share, out_fds[1], go_fds[0]);
    }
    ::close(out_fds[1]);
    ::close(go_fds[0]);
    children[i].out.reset(out_fds[0]);
    children[i].go.reset(go_fds[1]);
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    children[i].pid = pid;
  }
  // A stage is reached when every child has reached it or ended; the window's end when the first
  // child's window ends. Each hook fires once, in order.
  const auto all_at = [&](char stage) {
    return std::all_of(children.begin(), children.end(), [stage](const Child& c) {
      return !c.open || c.stages.find(stage) != std::string::npos;
    });
  };
  const auto any_at = [&](char stage) {
    return std::any_of(children.begin(), children.end(), [stage](const Child& c) {
      return !c.open || c.stages.find(stage) != std::string::npos;
    });
  };
  struct Stage {
    char byte;
    bool every;  // every child (else the first)
    const std::function<void()>* hook;
    bool done = false;
  };
  Stage stages[] = {{kConnected, true, &hooks.connected},
                    {kWindowStart, true, &hooks.window_start},
                    {kMidWindow, true, &hooks.mid_window},
                    {kWindowEnd, false, &hooks.window_end}};
  const auto advance = [&] {
    for (Stage& stage : stages) {
      if (stage.done) continue;
      if (!(stage.every ? all_at(stage.byte) : any_at(stage.byte))) return;
      stage.done = true;
      if (stage.byte == kConnected) {
        for (Child& child : children) child.go.reset();  // every child plans its run now
      }
      if (*stage.hook) (*stage.hook)();
    }
  };
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
        owners[i]->go.reset();
      } else {
        std::string_view got(buffer, static_cast<std::size_t>(n));
        // Stage bytes come before the JSON, and the JSON begins with '{'.
        while (!got.empty() && owners[i]->text.empty() &&
               kStages.find(got.front()) != std::string_view::npos) {
          owners[i]->stages += got.front();
          got.remove_prefix(1);
        }
        owners[i]->text.append(got);
      }
    }
    advance();
  }
  advance();  // every child has ended: the stages not yet reached fire now, in order
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
