// ringwire-load as a user runs it: --version, usage errors, a refused port, `--json -`, --hgrm.
// Each test runs the binary this build made, with its stdout and stderr captured, against
// loopback only, and kills it if it outlives its bound.

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "load.h"  // options.h by way of its own directory (server/ has an options.h too)
#include "processes.h"
#include "ringwire/unique_fd.h"
#include "support/blocking_server.h"
#include "support/server_process.h"

namespace ringwire::load {
namespace {

using Clock = std::chrono::steady_clock;
using testing::BlockingServer;

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

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t from = 0;
  while (from < text.size()) {
    const std::size_t end = text.find('\n', from);
    lines.push_back(text.substr(from, end == std::string::npos ? end : end - from));
    if (end == std::string::npos) break;
    from = end + 1;
  }
  return lines;
}

// A loopback port nothing listens on: bound (so it was free), then closed.
std::uint16_t closed_loopback_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("bind");
  }
  socklen_t length = sizeof address;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

TEST(LoadBinary, VersionPrintsTheVersionCommitBuildTypeAndBackends) {
  const Outcome r = run_load_binary({"--version"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_match(
      r.out,
      std::regex(
          R"(ringwire-load \d+\.\d+\.\d+ \(commit \S+, \w+; backends: epoll( io_uring)?( kqueue\(test-double\))?\)\n)")))
      << r.out;
}

TEST(LoadBinary, UsageErrorsExitTwoWithOneLine) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--no-such-flag"},
                                               {"--connections", "0"},
                                               {"--rate", "fast"},
                                               {"--service", "mirror"},
                                               {"--duration", "5x"},
                                               {"--duration", "0s"},
                                               {"--warmup", "-1"},
                                               {"sweep", "--connections", "1"}}) {
    const Outcome r = run_load_binary(args);
    const std::string shown = args.front() + (args.size() > 1 ? " " + args[1] : "");
    EXPECT_EQ(r.status, 2) << shown << ": " << r.err;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << shown << ": " << r.err;
    EXPECT_EQ(lines[0].rfind("ringwire-load: ", 0), 0u) << lines[0];
    EXPECT_EQ(r.out, "") << shown;
  }
}

TEST(LoadBinary, NumericFlagsOutOfTheirBoundsAreRefusedWithTheBounds) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--port", "70000"}, "--port: 70000 is not an integer from 1 to 65535"},
      {{"--size", "-1"}, "--size: -1 is not an integer from 0 to 1073741824"},
      {{"--threads", "5000"}, "--threads: 5000 is not an integer from 1 to 1024"},
      {{"--duration", "nan"}, "--duration: nan is not a duration from 0.001 to 31536000 seconds"},
      {{"--duration", "0"}, "--duration: 0 is not a duration from 0.001 to 31536000 seconds"},
      {{"--warmup", "-1"}, "--warmup: -1 is not a duration from 0 to 31536000 seconds"},
      {{"--connect-rate", "inf"}, "--connect-rate: inf is not a rate in connections/s from 0 to"},
      {{"sweep", "--connections", "1,0", "--out", "x"},
       "--connections: 0 is not an integer from 1"},
  };
  for (const auto& [args, message] : cases) {
    const Outcome r = run_load_binary(args);
    EXPECT_EQ(r.status, 2) << message << ": " << r.err;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(message), std::string::npos) << lines[0];
  }
}

TEST(LoadBinary, RefusedPortFailsFastWithOneLine) {
  const std::uint16_t port = closed_loopback_port();
  const Outcome r = run_load_binary({"--host", "127.0.0.1", "--port", std::to_string(port),
                                     "--connections", "4", "--duration", "30", "--warmup", "5"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.err,
            "ringwire-load: connect 127.0.0.1:" + std::to_string(port) + ": Connection refused\n");
  EXPECT_EQ(r.out, "");
  EXPECT_LT(r.seconds, 5.0) << "it must not run the --warmup and --duration it was given";
}

TEST(LoadBinary, JsonDashWritesTheJsonToStdoutAndTheReportToStderr) {
  BlockingServer server;
  const Outcome r =
      run_load_binary({"--port", std::to_string(server.port()), "--connections", "2", "--duration",
                       "0.3", "--warmup", "0", "--no-live", "--json", "-"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // the whole of stdout is the JSON
  EXPECT_GT(j.at("frames_per_s").get<double>(), 0);
  EXPECT_EQ(j.at("errors").get<int>(), 0);
  EXPECT_EQ(j.at("connections").get<int>(), 2);
  EXPECT_NE(r.err.find("p99"), std::string::npos) << "the human report goes to stderr: " << r.err;
  EXPECT_EQ(::access("-", F_OK), -1) << "no file named '-' may be written";
}

TEST(LoadBinary, HgrmWritesTheLatencyDistribution) {
  BlockingServer server;
  char dir_template[] = "/tmp/load_binary_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/run.hgrm";
  const Outcome r =
      run_load_binary({"--port", std::to_string(server.port()), "--connections", "2", "--duration",
                       "0.3", "--warmup", "0", "--no-live", "--json", "-", "--hgrm", path});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string hgrm = text.str();
  ::unlink(path.c_str());
  ::rmdir(dir_template);
  EXPECT_EQ(hgrm.rfind("       Value     Percentile TotalCount 1/(1-Percentile)\n\n", 0), 0u)
      << hgrm;
  // The same samples as the JSON's latency histogram: its count is the footer's total.
  const std::string total =
      fmt::format("Total count    = {:12d}]", j.at("latency_us").at("count").get<std::uint64_t>());
  EXPECT_NE(hgrm.find(total), std::string::npos) << total << "\n" << hgrm;
  EXPECT_NE(hgrm.find("#[Buckets =           32, SubBuckets     =         2048]"),
            std::string::npos);
}

TEST(LoadBinary, JsonAndHgrmCannotBothTakeStdout) {
  const Outcome r = run_load_binary({"--port", "1", "--json", "-", "--hgrm", "-"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err,
            "ringwire-load: only one of --json, --hgrm and --hist-log can write standard output "
            "('-')\n");
}

// --hist-log: with no warm-up the intervals hold every reply of the run, so `merge` of the log
// counts exactly the run's latency samples (the log's format itself: hist_log_test).
TEST(LoadBinary, HistLogIntervalsMergeBackToTheRunsLatency) {
  BlockingServer server;
  char dir_template[] = "/tmp/load_binary_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/run.hlog";
  const Outcome r =
      run_load_binary({"--port", std::to_string(server.port()), "--connections", "2", "--duration",
                       "1.5", "--warmup", "0", "--no-live", "--json", "-", "--hist-log", path});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto run = nlohmann::json::parse(r.out);
  std::ifstream in(path);
  int intervals = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(",HISTF") != std::string::npos) ++intervals;
  }
  EXPECT_EQ(intervals, 2) << "one a second, and the last part-second";
  const Outcome merged = run_load_binary({"merge", path, "--json", "-"});
  ::unlink(path.c_str());
  ::rmdir(dir_template);
  ASSERT_EQ(merged.status, 0) << merged.err;
  const auto j = nlohmann::json::parse(merged.out);
  EXPECT_GT(run.at("latency_us").at("count").get<std::uint64_t>(), 100u);
  EXPECT_EQ(j.at("latency_us").at("count"), run.at("latency_us").at("count"));
  EXPECT_EQ(j.at("latency_us").at("p99"), run.at("latency_us").at("p99"));
}

TEST(LoadDurations, UnitsAndPlainSeconds) {
  EXPECT_EQ(parse_duration("30s"), 30.0);
  EXPECT_EQ(parse_duration("2m"), 120.0);
  EXPECT_EQ(parse_duration("1h"), 3600.0);
  EXPECT_EQ(parse_duration("500ms"), 0.5);
  EXPECT_EQ(parse_duration("250us"), 250e-6);
  EXPECT_EQ(parse_duration("1.5"), 1.5);
  EXPECT_EQ(parse_duration("0"), 0.0);
  for (const char* bad : {"", "s", "5x", "-1s", "1 s", "nan", "3d"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

// The JSON says which tool and layout wrote it, when, from what command, and second by second.
TEST(LoadBinary, JsonCarriesSchemaToolTimesCommandLineAndSeries) {
  BlockingServer server;
  const std::vector<std::string> args = {"--port",
                                         std::to_string(server.port()),
                                         "--connections",
                                         "2",
                                         "--duration",
                                         "1500ms",
                                         "--warmup",
                                         "0s",
                                         "--no-live",
                                         "--json",
                                         "-"};
  const Outcome r = run_load_binary(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("schema_version").get<int>(), 2);
  EXPECT_EQ(j.at("tool").at("name"), "ringwire-load");
  EXPECT_TRUE(std::regex_match(j.at("tool").at("version").get<std::string>(),
                               std::regex(R"(\d+\.\d+\.\d+)")));
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  const auto started = j.at("started_at").get<std::string>();
  const auto ended = j.at("ended_at").get<std::string>();
  EXPECT_TRUE(std::regex_match(started, rfc3339)) << started;
  EXPECT_TRUE(std::regex_match(ended, rfc3339)) << ended;
  EXPECT_LT(started, ended);  // same format, so text order is time order
  std::vector<std::string> command = {RINGWIRE_LOAD_BINARY};
  command.insert(command.end(), args.begin(), args.end());
  EXPECT_EQ(j.at("command_line").get<std::vector<std::string>>(), command);
  EXPECT_EQ(j.at("options").at("duration").get<double>(), 1.5);
  const auto& series = j.at("series");
  ASSERT_GE(series.size(), 1u);
  for (const auto& second : series) {
    EXPECT_GT(second.at("rate").get<double>(), 0);
    EXPECT_GT(second.at("p99_us").get<double>(), 0);
    EXPECT_GE(second.at("p99_us").get<double>(), second.at("p50_us").get<double>());
    EXPECT_EQ(second.at("errors").get<int>(), 0);
  }
}

// The sweep's plot says what was measured, and its heights start at zero.
TEST(LoadBinary, SweepPlotTitleSaysWhatWasMeasured) {
  BlockingServer server;
  char dir[] = "/tmp/load_binary_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const Outcome r = run_load_binary({"sweep", "--port", std::to_string(server.port()),
                                     "--connections", "1,2", "--duration", "200ms", "--warmup", "0",
                                     "--no-live", "--depth", "3", "--out", dir});
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream in(std::string(dir) + "/sweep.gp");
  std::stringstream text;
  text << in.rdbuf();
  const std::string gp = text.str();
  std::filesystem::remove_all(dir);
  EXPECT_NE(gp.find("set title 'ringwire-load sweep: closed loop, 64 B, depth 3, 1,2 connections, "
                    "rate -, "),
            std::string::npos)
      << gp;
  EXPECT_NE(gp.find("set yrange [0:*]"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set y2range [0:*]"), std::string::npos) << gp;
}

// A sweep over --processes against two ringwire-server processes on one port, both given as
// --server-pid: every point reports the servers' CPU over its window (as a per-frame cost), their
// RSS, and the kernel's TCP sockets (this namespace's: other tests' sockets may add to them).
TEST(LoadBinary, SweepSamplesEveryServerPidAndTheKernelsTcpSockets) {
  test::ServerProcess first(
      {"--port", "0", "--threads", "1", "--reuse-port", "--log-level", "warn"});
  const std::uint16_t port = first.ready_port();
  ASSERT_NE(port, 0);
  test::ServerProcess second(
      {"--port", std::to_string(port), "--threads", "1", "--reuse-port", "--log-level", "warn"});
  ASSERT_EQ(second.ready_port(), port);
  char dir[] = "/tmp/load_binary_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const Outcome r = run_load_binary({"sweep",
                                     "--port",
                                     std::to_string(port),
                                     "--connections",
                                     "2,4",
                                     "--processes",
                                     "2",
                                     "--depth",
                                     "8",
                                     "--duration",
                                     "500ms",
                                     "--warmup",
                                     "100ms",
                                     "--no-live",
                                     "--server-pid",
                                     std::to_string(first.pid()),
                                     "--server-pid",
                                     std::to_string(second.pid()),
                                     "--out",
                                     dir});
  std::ifstream json_in(std::string(dir) + "/sweep.json");
  const auto j = nlohmann::json::parse(json_in, nullptr, false);
  std::ifstream csv_in(std::string(dir) + "/sweep.csv");
  std::string header;
  std::getline(csv_in, header);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("srv ns/frame"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tcp mem MB"), std::string::npos) << r.out;
  EXPECT_NE(header.find("server_cpu_ns_per_frame,tcp_inuse,tcp_orphan,tcp_tw,tcp_alloc,"
                        "tcp_mem_bytes"),
            std::string::npos)
      << header;
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j.at("server_pids"), nlohmann::json::array({first.pid(), second.pid()}));
  const auto& points = j.at("points");
  ASSERT_EQ(points.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& point = points[i];
    const std::uint64_t connections = i == 0 ? 2 : 4;
    EXPECT_EQ(point.at("connections").get<std::uint64_t>(), connections);
    EXPECT_EQ(point.at("errors").get<int>(), 0);
    EXPECT_EQ(point.at("options").at("processes").get<int>(), 2);
    EXPECT_EQ(point.at("processes").size(), 2u);
    // Both ends of each connection are this namespace's TCP sockets.
    EXPECT_GE(point.at("tcp_sockstat").at("inuse").get<std::uint64_t>(), 2 * connections);
    EXPECT_TRUE(point.at("tcp_sockstat").at("mem_bytes").is_number_unsigned());  // 0 when idle
    // Closed loop at depth 8 keeps the servers busy: well over one 10 ms clock tick of CPU in a
    // half-second window. The window is sampled on the parent's clock at the children's common
    // start and end (a loaded machine may wake it late, hence the slack).
    const auto& cpu = point.at("server_cpu");
    EXPECT_GT(cpu.at("seconds").get<double>(), 0);
    EXPECT_GT(cpu.at("window_s").get<double>(), 0.1);
    EXPECT_LT(cpu.at("window_s").get<double>(), 2.0);
    EXPECT_GT(cpu.at("ns_per_frame").get<double>(), 0);
    EXPECT_NEAR(cpu.at("ns_per_frame").get<double>(),
                cpu.at("seconds").get<double>() / cpu.at("window_s").get<double>() /
                    point.at("frames_per_s").get<double>() * 1e9,
                1);
    EXPECT_GT(point.at("server_rss_bytes").get<std::uint64_t>(), 0u);
  }
}

// --processes: the children's results merge exactly: the merged latency histogram is the one
// histogram fed every child's samples, and the counts are their sums.
TEST(LoadBinary, ProcessesMergeTheirChildrensResultsExactly) {
  BlockingServer server;
  const Outcome r = run_load_binary({"--port", std::to_string(server.port()), "--connections", "5",
                                     "--processes", "2", "--depth", "2", "--duration", "500ms",
                                     "--warmup", "100ms", "--no-live", "--json", "-"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("connections").get<int>(), 5);
  EXPECT_EQ(j.at("options").at("processes").get<int>(), 2);
  const auto& children = j.at("processes");
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].at("connections").get<int>(), 3);
  EXPECT_EQ(children[1].at("connections").get<int>(), 2);
  Histogram all;
  std::uint64_t frames = 0;
  for (const auto& child : children) {
    const auto h =
        Histogram::decode_base64(child.at("latency_us").at("encoded").get<std::string>());
    ASSERT_TRUE(h.has_value());
    EXPECT_GT(h->count(), 0u);
    all.merge(*h);
    frames += child.at("frames_completed").get<std::uint64_t>();
  }
  EXPECT_EQ(j.at("latency_us").at("encoded").get<std::string>(), all.encode_base64());
  EXPECT_EQ(j.at("frames_completed").get<std::uint64_t>(), frames);
  EXPECT_EQ(j.at("latency_us").at("count").get<std::uint64_t>(), frames);
  EXPECT_EQ(j.at("errors").get<int>(), 0);
}

TEST(LoadBinary, ProcessesOnARefusedPortFailFastWithOneLine) {
  const std::uint16_t port = closed_loopback_port();
  const Outcome r = run_load_binary({"--port", std::to_string(port), "--connections", "4",
                                     "--processes", "2", "--duration", "30s", "--no-live"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.err,
            "ringwire-load: connect 127.0.0.1:" + std::to_string(port) + ": Connection refused\n");
  EXPECT_LT(r.seconds, 5.0);
}

TEST(LoadProcesses, SharesAddUpToTheRun) {
  LoadOptions o;
  o.connections = 10;
  o.threads = 3;
  o.rate = 1000;
  o.json_file = "run.json";
  std::size_t connections = 0, threads = 0;
  double rate = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const LoadOptions share = process_share(o, 4, i);
    connections += share.connections;
    threads += share.threads;
    rate += share.rate;
    EXPECT_TRUE(share.json_file.empty());
    EXPECT_FALSE(share.live);
  }
  EXPECT_EQ(connections, 10u);
  EXPECT_EQ(threads, 4u);  // at least one each
  EXPECT_DOUBLE_EQ(rate, 1000);
}

}  // namespace
}  // namespace ringwire::load
