// floor_pair: the loopback floor the engines are measured against — a minimal blocking framed
// echo server (one thread per connection, no event loop at all) and a minimal blocking client.
//
//   floor_pair server --port N
//       serves until killed; prints "listening on 127.0.0.1:PORT" once ready.
//   floor_pair client --port N --duration S [--warmup S] [--size B] [--reconnect] [--json FILE]
//       one connection, one frame in flight: send, block in recv for the reply, repeat. Reports
//       the round trip's percentiles. With --reconnect every frame gets a new connection (the
//       accept-rate case: connect, one echo, close with RST so no TIME_WAIT piles up on loopback)
//       and the report counts connections per second.
//
// Works against any server speaking the protocol, so it also measures the engines' round trip
// with the client held fixed.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ringwire/frame.h"
#include "ringwire/net.h"
#include "ringwire/unique_fd.h"

namespace ringwire {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Echoes frames on one connection until it ends: read a header, read the payload, write both.
void serve_connection(UniqueFd socket) {
  set_no_delay(socket.get());
  std::vector<std::byte> frame(kFrameHeaderSize);
  while (read_exact(socket.get(), std::span(frame).first(kFrameHeaderSize))) {
    const std::uint32_t length = load_be32(frame.data());
    if (length > kDefaultMaxFrame) return;
    frame.resize(kFrameHeaderSize + length);
    if (!read_exact(socket.get(), std::span(frame).subspan(kFrameHeaderSize, length))) return;
    if (!write_all(socket.get(), frame)) return;
  }
}

int run_server(std::uint16_t port) {
  SocketAddress address = resolve_address("127.0.0.1", port);
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));  // blocking
  const int on = 1;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(listener.get(), address.get(), address.length) != 0 ||
      ::listen(listener.get(), kListenBacklog) != 0) {
    std::perror("floor_pair server: bind/listen");
    return 1;
  }
  std::printf("listening on %s\n", local_address(listener.get()).to_string().c_str());
  std::fflush(stdout);
  while (true) {
    UniqueFd socket(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!socket) continue;
    std::thread(serve_connection, std::move(socket)).detach();
  }
}

UniqueFd connect_to(const SocketAddress& address) {
  UniqueFd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(socket.get(), address.get(), address.length) != 0) return UniqueFd{};
  set_no_delay(socket.get());
  return socket;
}

// Closes with RST (SO_LINGER 0): the accept-rate loop would otherwise fill the port range with
// TIME_WAIT sockets within seconds.
void close_with_reset(UniqueFd& socket) {
  const linger reset{1, 0};
  ::setsockopt(socket.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  socket.reset();
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

int run_client(std::uint16_t port, double duration_s, double warmup_s, std::uint32_t size,
               bool reconnect, const std::string& json_file) {
  const SocketAddress address = resolve_address("127.0.0.1", port);
  std::vector<std::byte> request(kFrameHeaderSize + size, std::byte{0x5a});
  encode_frame_header(request, size);
  std::vector<std::byte> reply(request.size());
  std::vector<double> samples_us;
  samples_us.reserve(1 << 20);
  std::uint64_t errors = 0;
  UniqueFd socket;
  const auto start = SteadyClock::now();
  const auto measure_from = start + std::chrono::duration<double>(warmup_s);
  const auto end = measure_from + std::chrono::duration<double>(duration_s);
  for (auto now = start; now < end; now = SteadyClock::now()) {
    if (!socket) socket = connect_to(address);
    const bool ok = socket && write_all(socket.get(), request) && read_exact(socket.get(), reply);
    const auto done = SteadyClock::now();
    if (!ok) {
      ++errors;
      socket.reset();
      continue;
    }
    if (reconnect) close_with_reset(socket);
    if (now >= measure_from) {
      samples_us.push_back(std::chrono::duration<double, std::micro>(done - now).count());
    }
  }
  std::sort(samples_us.begin(), samples_us.end());
  const double rate = static_cast<double>(samples_us.size()) / duration_s;
  char json[512];
  std::snprintf(json, sizeof json,
                "{\"frames_per_s\": %.1f, \"connections_per_s\": %.1f, \"errors\": %llu, "
                "\"latency_us\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"p999\": %.2f, "
                "\"max\": %.2f}}\n",
                rate, reconnect ? rate : 0.0, static_cast<unsigned long long>(errors),
                percentile(samples_us, 50), percentile(samples_us, 90), percentile(samples_us, 99),
                percentile(samples_us, 99.9), samples_us.empty() ? 0.0 : samples_us.back());
  std::fputs(json, stdout);
  if (!json_file.empty()) std::ofstream(json_file) << json;
  return samples_us.empty() ? 1 : 0;
}

}  // namespace
}  // namespace ringwire

int main(int argc, char** argv) {
  CLI::App app{"floor_pair: minimal blocking echo server and client (the loopback floor)"};
  app.require_subcommand(1);
  std::uint16_t port = 7000;
  double duration_s = 5, warmup_s = 1;
  std::uint32_t size = 64;
  bool reconnect = false;
  std::string json_file;
  CLI::App* server = app.add_subcommand("server", "blocking echo server");
  server->add_option("--port", port);
  CLI::App* client = app.add_subcommand("client", "blocking ping-pong client");
  client->add_option("--port", port);
  client->add_option("--duration", duration_s);
  client->add_option("--warmup", warmup_s);
  client->add_option("--size", size);
  client->add_flag("--reconnect", reconnect, "a new connection per frame (accept rate)");
  client->add_option("--json", json_file);
  CLI11_PARSE(app, argc, argv);
  if (server->parsed()) return ringwire::run_server(port);
  return ringwire::run_client(port, duration_s, warmup_s, size, reconnect, json_file);
}
