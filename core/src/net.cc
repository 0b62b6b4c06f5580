#include "ringwire/net.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace ringwire {
namespace {

[[noreturn]] void fail(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

void SocketAddress::set_port(std::uint16_t port) {
  if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  }
}

std::string SocketAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
                sizeof text);
    return fmt::format("[{}]:{}", text, port());
  }
  ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
              sizeof text);
  return fmt::format("{}:{}", text, port());
}

SocketAddress resolve_address(std::string_view host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* results = nullptr;
  const std::string host_text(host);
  const std::string port_text = std::to_string(port);
  const int rc = ::getaddrinfo(host_text.c_str(), port_text.c_str(), &hints, &results);
  if (rc != 0 || results == nullptr) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "address '" + host_text + "': " + ::gai_strerror(rc));
  }
  SocketAddress address;
  std::memcpy(&address.storage, results->ai_addr, results->ai_addrlen);
  address.length = results->ai_addrlen;
  ::freeaddrinfo(results);
  return address;
}

SocketAddress local_address(int fd) {
  SocketAddress address;
  address.length = sizeof address.storage;
  if (::getsockname(fd, address.get(), &address.length) != 0) fail(errno, "getsockname");
  return address;
}

UniqueFd make_listen_socket(const SocketAddress& address, bool reuse_port, int backlog) {
  UniqueFd socket(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket) fail(errno, "socket for " + address.to_string());
  const int on = 1;
  // SO_REUSEADDR: restart at once even while old connections sit in TIME_WAIT.
  ::setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
#ifdef SO_REUSEPORT_LB
  // FreeBSD: plain SO_REUSEPORT lets the sockets share the port but hands every connection to
  // one; SO_REUSEPORT_LB spreads them by hash, as Linux's SO_REUSEPORT does. (Untested here.)
  constexpr int kReusePort = SO_REUSEPORT_LB;
#else
  constexpr int kReusePort = SO_REUSEPORT;
#endif
  if (reuse_port && ::setsockopt(socket.get(), SOL_SOCKET, kReusePort, &on, sizeof on) != 0) {
    fail(errno, "SO_REUSEPORT on " + address.to_string());
  }
  if (address.family() == AF_INET6) {
    // "::" serves IPv6 only, so a second server may own 0.0.0.0 on the same port.
    ::setsockopt(socket.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (::bind(socket.get(), address.get(), address.length) != 0) {
    fail(errno, "bind " + address.to_string());
  }
  if (::listen(socket.get(), backlog) != 0) fail(errno, "listen " + address.to_string());
  return socket;
}

std::vector<UniqueFd> make_reuseport_listeners(SocketAddress& address, std::size_t count,
                                               bool join_group) {
  if (!join_group) {
    UniqueFd probe = make_listen_socket(address, /*reuse_port=*/false);
    address = local_address(probe.get());  // the real port when 0 was asked for
  }
  std::vector<UniqueFd> sockets;
  for (std::size_t i = 0; i < count; ++i) {
    sockets.push_back(make_listen_socket(address, /*reuse_port=*/true));
    if (i == 0) address = local_address(sockets[0].get());  // the others join its port
  }
  return sockets;
}

std::vector<UniqueFd> adopt_listeners(std::span<const int> fds, std::size_t count,
                                      SocketAddress& address) {
  std::vector<UniqueFd> sockets;
  for (const int fd : fds) sockets.emplace_back(fd);
  if (sockets.size() != count) {
    fail(EINVAL, fmt::format("listeners handed over: {} socket(s), this process needs {} (start "
                             "it with the --threads and --balance of the one handing over)",
                             sockets.size(), count));
  }
  const SocketAddress theirs = local_address(sockets[0].get());
  if (address.port() != 0 && theirs.to_string() != address.to_string()) {
    fail(EINVAL,
         "listeners handed over listen on " + theirs.to_string() + ", not " + address.to_string());
  }
  address = theirs;
  return sockets;
}

bool read_exact(int fd, std::span<std::byte> out) {
  while (!out.empty()) {
    const ssize_t got = ::recv(fd, out.data(), out.size(), 0);
    if (got <= 0) return false;
    out = out.subspan(static_cast<std::size_t>(got));
  }
  return true;
}

bool write_all(int fd, std::span<const std::byte> in) {
  while (!in.empty()) {
    const ssize_t put = ::send(fd, in.data(), in.size(), MSG_NOSIGNAL);
    if (put <= 0) return false;
    in = in.subspan(static_cast<std::size_t>(put));
  }
  return true;
}

void set_no_delay(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int socket_error(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

}  // namespace ringwire
