#include "ringwire/listener.h"

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

Listener::Listener(EventLoop& loop, UniqueFd socket, AcceptHandler& handler, LoopStats& stats)
    : loop_(loop),
      socket_(std::move(socket)),
      reserve_(open_reserve()),
      handler_(handler),
      stats_(stats) {}

Listener::~Listener() { close(); }

void Listener::start() { token_ = loop_.add_io(socket_.get(), Interest::kRead, *this); }

void Listener::close() {
  if (!socket_) return;
  loop_.cancel_timer(resume_timer_);
  resume_timer_ = kNoTimer;
  if (token_ != 0) loop_.remove_io(token_);
  token_ = 0;
  socket_.reset();
}

void Listener::on_io(const Event&) {
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    SocketAddress peer;
    peer.length = sizeof peer.storage;
    const int fd = ::accept4(socket_.get(), peer.get(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      handler_.on_accepted(UniqueFd(fd), peer);
      if (!socket_) return;  // the handler closed us (drain began)
      continue;
    }
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) return;
    if (error == EINTR || error == ECONNABORTED) continue;  // that peer gave up; try the next
    stats_.accept_errors.add();
    log_accept_error(error);
    if (out_of_descriptors(error)) {
      shed_waiting_connections();
      pause_accepting();
    }
    // ENOBUFS, ENOMEM, EPERM...: try again next turn rather than spin here.
    return;
  }
}

void Listener::shed_waiting_connections() {
  // With the reserve given up there is one descriptor free: take each waiting connection and close
  // it at once (its descriptor is free again for the next), so its peer learns now instead of
  // waiting in the backlog through pause after pause. Bounded like any accept burst.
  reserve_.reset();
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    const int fd = ::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;  // EAGAIN: the backlog is empty; EMFILE: another thread took the descriptor
    }
    ::close(fd);
    stats_.connections_shed.add();
  }
  // Another loop's thread may have taken the descriptor meanwhile: then the resume timer retries.
  reserve_ = open_reserve();
}

void Listener::pause_accepting() {
  if (resume_timer_ != kNoTimer) return;
  stats_.accept_pauses.add();
  loop_.set_interest(token_, Interest::kNone);
  resume_timer_ = loop_.add_timer_after(kAcceptPauseAfterExhaustion, [this] {
    resume_timer_ = kNoTimer;
    if (!reserve_) reserve_ = open_reserve();
    if (socket_) loop_.set_interest(token_, Interest::kRead);
  });
}

void Listener::log_accept_error(int error) {
  ++errors_since_log_;
  const TimePoint now = loop_.now();
  if (now - last_error_log_ < kAcceptErrorLogInterval) return;
  last_error_log_ = now;
  const char* hint = out_of_descriptors(error)
                         ? " (descriptor limit reached: shedding new connections, raise "
                           "'ulimit -n' or lower --max-connections)"
                         : "";
  log(LogLevel::kWarn, "accept on {}: {}{}; {} failed accept(s) in the last interval",
      local_address(socket_.get()).to_string(), std::strerror(error), hint, errors_since_log_);
  errors_since_log_ = 0;
}

}  // namespace ringwire
