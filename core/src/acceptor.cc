#include "ringwire/acceptor.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ringwire/log.h"

namespace ringwire {
namespace {

UniqueFd open_reserve() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

bool out_of_descriptors(int error) { return error == EMFILE || error == ENFILE; }

}  // namespace

Acceptor::Acceptor(UniqueFd socket, AcceptHandler& handler, LoopStats& stats)
    : socket_(std::move(socket)), reserve_(open_reserve()), handler_(handler), stats_(stats) {
  // Accepted sockets inherit TCP_NODELAY from their listener (Linux, the BSDs): one setsockopt
  // here instead of one per connection, which accept churn pays for. Fails harmlessly off TCP.
  set_no_delay(socket_.get());
}

Acceptor::Result Acceptor::accept_waiting(TimePoint now, int limit) {
  for (int i = 0; i < limit; ++i) {
    SocketAddress peer;
    peer.length = sizeof peer.storage;
    const int fd = ::accept4(socket_.get(), peer.get(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      handler_.on_accepted(UniqueFd(fd), peer);
      if (!socket_) return Result::kDone;  // the handler closed us (drain began)
      continue;
    }
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) return Result::kDone;
    if (error == EINTR || error == ECONNABORTED) continue;  // that peer gave up; try the next
    return accept_failed(error, now);
  }
  return Result::kDone;
}

void Acceptor::accepted(UniqueFd socket) {
  SocketAddress peer;
  peer.length = sizeof peer.storage;
  if (::getpeername(socket.get(), peer.get(), &peer.length) < 0) peer.length = 0;  // reset already
  handler_.on_accepted(std::move(socket), peer);
}

Acceptor::Result Acceptor::accept_failed(int error, TimePoint now) {
  stats_.accept_errors.add();
  if (const std::uint64_t failures = log_limit_.occurred(now); failures != 0) {
    const char* hint = out_of_descriptors(error)
                           ? " (descriptor limit reached: shedding new connections, raise "
                             "'ulimit -n' or lower --max-connections)"
                           : "";
    log(LogLevel::kWarn, "accept on {}: {}{}; {} failed accept(s) in the last interval",
        local_address(socket_.get()).to_string(), std::strerror(error), hint, failures);
  }
  // ENOBUFS, ENOMEM, EPERM...: tried again next turn rather than in a spin here.
  if (!out_of_descriptors(error)) return Result::kDone;
  shed_waiting_connections();
  stats_.accept_pauses.add();
  return Result::kPauseAccepting;
}

void Acceptor::pause_ended() {
  if (!reserve_) reserve_ = open_reserve();
}

void Acceptor::shed_waiting_connections() {
  // With the reserve given up there is one descriptor free: take each waiting connection and close
  // it at once (its descriptor is free again for the next) — or serve the first on it.
  reserve_.reset();
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    SocketAddress peer;
    peer.length = sizeof peer.storage;
    const int fd = ::accept4(socket_.get(), peer.get(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;  // EAGAIN: the backlog is empty; EMFILE: another thread took the descriptor
    }
    if (handler_.serve_on_reserve()) {
      handler_.on_accepted(UniqueFd(fd), peer);
      return;  // the reserve is in use: pause_ended() takes it back
    }
    ::close(fd);
    stats_.connections_shed.add();
  }
  // Another thread may have taken the descriptor meanwhile: then pause_ended() retries.
  reserve_ = open_reserve();
}

}  // namespace ringwire
