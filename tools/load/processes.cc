#include "processes.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_report.h"
#include "merge.h"
#include "ringwire/unique_fd.h"

namespace ringwire::load {

namespace {

// The byte a child writes, before its JSON (which begins with '{'), once it has connected.
constexpr char kConnected = 'C';
// Lead from the last child connecting to the common start: time for every child to wake up.
constexpr std::int64_t kCommonStartLeadNs = 50'000'000;

// What one child wrote before it ended: its JSON result, or {"start_error": line}.
struct Child {
  pid_t pid = -1;
  UniqueFd out;  // the child's 'C', then its JSON
  UniqueFd go;   // a socket: the common start time is sent here, then it is closed
  std::string text;
  bool connected = false;
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

// In the child: runs its share, saying on `fd` when it has connected and taking the common start
// from `go`; then writes the result to `fd`. Never returns.
[[noreturn]] void child_main(const LoadOptions& share, int fd, int go) {
  RunHooks hooks;
  hooks.connected = [fd, go]() -> std::int64_t {
    write_all(fd, std::string_view(&kConnected, 1));
    std::int64_t start = 0;
    std::size_t got = 0;
    while (got < sizeof start) {
      const ssize_t n = ::read(go, reinterpret_cast<char*>(&start) + got, sizeof start - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;  // the parent is gone: start on our own
      got += static_cast<std::size_t>(n);
    }
    return start;
  };
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
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go_fds) != 0) {
      ::close(out_fds[0]);
      ::close(out_fds[1]);
      throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
    }
    const LoadOptions share = process_share(options, processes, i);
    std::fflush(nullptr);  // nothing buffered is written twice
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(out_fds[0]);
      ::close(go_fds[1]);
      // The earlier children's pipes and sockets are theirs and the parent's, not this child's.
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
  // Once every child has connected (or ended): one start for all, and the parent's own hooks at
  // the common window's start, middle and end.
  const auto all_connected = [&] {
    return std::all_of(children.begin(), children.end(),
                       [](const Child& c) { return c.connected || !c.open; });
  };
  bool started = false;
  std::vector<std::pair<std::int64_t, const std::function<void()>*>> events;
  std::size_t fired = 0;
  const auto start_all = [&] {
    started = true;
    if (hooks.connected) hooks.connected();
    const std::int64_t start = now_ns() + kCommonStartLeadNs;
    for (Child& child : children) {
      if (child.go) {
        ::send(child.go.get(), &start, sizeof start, MSG_NOSIGNAL);  // a child gone: nothing
        child.go.reset();
      }
    }
    const std::int64_t measure_start = start + static_cast<std::int64_t>(options.warmup_s * 1e9);
    const std::int64_t measure_end =
        measure_start + static_cast<std::int64_t>(options.duration_s * 1e9);
    const std::pair<std::int64_t, const std::function<void()>*> hook_times[] = {
        {measure_start, &hooks.window_start},
        {(measure_start + measure_end) / 2, &hooks.mid_window},
        {measure_end, &hooks.window_end}};
    for (const auto& event : hook_times) {
      if (*event.second) events.push_back(event);
    }
  };
  const auto fire_due = [&](std::int64_t now) {
    for (; fired < events.size() && events[fired].first <= now; ++fired) (*events[fired].second)();
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
    timespec timeout{};
    const timespec* wait = nullptr;  // no event pending: until a child writes or ends
    if (fired < events.size()) {
      const std::int64_t left = std::max<std::int64_t>(0, events[fired].first - now_ns());
      timeout.tv_sec = static_cast<time_t>(left / 1'000'000'000);
      timeout.tv_nsec = static_cast<long>(left % 1'000'000'000);
      wait = &timeout;
    }
    if (::ppoll(fds.data(), fds.size(), wait, nullptr) < 0 && errno != EINTR) break;
    fire_due(now_ns());
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[65536];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        owners[i]->open = false;
      } else {
        std::string_view got(buffer, static_cast<std::size_t>(n));
        if (!owners[i]->connected && owners[i]->text.empty() && got.front() == kConnected) {
          owners[i]->connected = true;
          got.remove_prefix(1);
        }
        owners[i]->text.append(got);
      }
    }
    if (!started && all_connected()) start_all();
  }
  if (!started) start_all();
  fire_due(std::numeric_limits<std::int64_t>::max());  // every child has ended: the rest, in order
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
