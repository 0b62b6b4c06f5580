#pragma once
// Socket helpers shared by the server, the listener and the load generator: address parsing,
// listening sockets, socket options. Each failure throws std::system_error whose what() is one
// line naming the operation and the address ("bind 127.0.0.1:7000: Address already in use").

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringwire/unique_fd.h"

namespace ringwire {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  std::uint16_t port() const;
  void set_port(std::uint16_t port);
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  std::string to_string() const;  // "127.0.0.1:7000", "[::1]:7000"
};

// A numeric IPv4/IPv6 address or a host name (first result), with a port.
SocketAddress resolve_address(std::string_view host, std::uint16_t port);
// The local address a socket is bound to.
SocketAddress local_address(int fd);

// Listen queue length: the kernel caps it at net.core.somaxconn.
inline constexpr int kListenBacklog = 4096;

// A non-blocking, close-on-exec listening socket bound to `address`. With `reuse_port`, more
// sockets may bind the same address and the kernel spreads new connections over them.
UniqueFd make_listen_socket(const SocketAddress& address, bool reuse_port,
                            int backlog = kListenBacklog);

// `count` listening sockets bound to `address` with SO_REUSEPORT (one per loop). SO_REUSEPORT would
// let us silently share a port with another server of the same user, so unless `join_group` it
// first binds once without it: a port in use is refused ("bind 127.0.0.1:7000: Address already in
// use"). With `join_group` the sockets join whatever SO_REUSEPORT group (same user) already listens
// there — several processes on one port, rolling restarts. A port of 0 is replaced in `address` by
// the one the kernel picked.
std::vector<UniqueFd> make_reuseport_listeners(SocketAddress& address, std::size_t count,
                                               bool join_group = false);

// Listening sockets another process handed over (listener_handover in the server): ownership of
// `fds` passes to the result. They must number `count` (one per listening loop) and listen on one
// address, which is written to `address`; a port asked for in `address` (non-zero) must be theirs.
std::vector<UniqueFd> adopt_listeners(std::span<const int> fds, std::size_t count,
                                      SocketAddress& address);

// TCP_NODELAY: small replies go out at once. Set on a listener, its accepted sockets inherit it.
void set_no_delay(int fd);

// For blocking sockets (tests, the benchmarks' floor pair): all of `out` / all of `in`, retrying
// short transfers; false at EOF or on an error.
bool read_exact(int fd, std::span<std::byte> out);
bool write_all(int fd, std::span<const std::byte> in);
// The socket's pending error (SO_ERROR), 0 when none.
int socket_error(int fd);

}  // namespace ringwire
