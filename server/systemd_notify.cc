#include "systemd_notify.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ringwire/log.h"

namespace ringwire {
namespace {

constexpr Clock::duration kStatusInterval = std::chrono::seconds(1);

// $WATCHDOG_USEC when it is meant for this process ($WATCHDOG_PID unset or ours), else 0.
std::uint64_t watchdog_usec() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (usec == nullptr) return 0;
  const char* pid = std::getenv("WATCHDOG_PID");
  if (pid != nullptr && std::strtoll(pid, nullptr, 10) != ::getpid()) return 0;
  return std::strtoull(usec, nullptr, 10);
}

}  // namespace

SystemdNotifier::SystemdNotifier(EventLoop& loop, std::function<std::string()> status)
    : loop_(loop), status_(std::move(status)), interval_(kStatusInterval) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr || (name[0] != '/' && name[0] != '@')) return;
  const std::size_t length = std::strlen(name);
  if (length >= sizeof address_.sun_path) {
    log(LogLevel::kWarn, "NOTIFY_SOCKET is too long for a unix socket address: not notifying");
    return;
  }
  address_.sun_family = AF_UNIX;
  std::memcpy(address_.sun_path, name, length);
  if (name[0] == '@') address_.sun_path[0] = '\0';  // abstract: no terminating NUL counted
  address_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!socket_) {
    log(LogLevel::kWarn, "NOTIFY_SOCKET: socket: {}: not notifying", std::strerror(errno));
    return;
  }
  if (const std::uint64_t usec = watchdog_usec(); usec > 0) {
    // Twice per period, as sd_watchdog_enabled(3) advises; never slower than the status line.
    watchdog_ = true;
    interval_ = std::min(interval_, Clock::duration(std::chrono::microseconds(usec / 2)));
  }
}

SystemdNotifier::~SystemdNotifier() {
  if (timer_ != kNoTimer) loop_.cancel_timer(timer_);
}

void SystemdNotifier::ready() {
  if (!enabled()) return;
  send("READY=1\nSTATUS=" + status_());
  timer_ = loop_.add_timer_after(interval_, [this] { tick(); });
}

void SystemdNotifier::stopping() {
  if (!enabled()) return;
  send("STOPPING=1\nSTATUS=" + status_());
}

void SystemdNotifier::tick() {
  send((watchdog_ ? "WATCHDOG=1\nSTATUS=" : "STATUS=") + status_());
  timer_ = loop_.add_timer_after(interval_, [this] { tick(); });
}

void SystemdNotifier::send(const std::string& message) {
  // One datagram; if systemd is not listening (restarting, gone) there is nothing to do about it.
  if (::sendto(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&address_), address_length_) < 0) {
    log(LogLevel::kDebug, "NOTIFY_SOCKET: sendto: {}", std::strerror(errno));
  }
}

}  // namespace ringwire
