#pragma once
// SystemdNotifier: tells systemd how the service is doing, with the documented datagram protocol of
// sd_notify(3) and no libsystemd: each message is one datagram to the AF_UNIX socket named by
// $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). ready() sends READY=1 once every
// listener is up, then every second a STATUS= line (and WATCHDOG=1 when systemd asked for a
// watchdog through $WATCHDOG_USEC); stopping() sends STOPPING=1 when the drain begins. Without
// $NOTIFY_SOCKET (not run by systemd) every call does nothing.
//
// Lives on the control loop: construct, call and destroy it on that loop's thread.

#include <sys/socket.h>
#include <sys/un.h>

#include <functional>
#include <string>
#include <string_view>

#include "ringwire/event_loop.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

class SystemdNotifier {
 public:
  // `status` gives the STATUS= text ("serving 12 connection(s), 3456 accepted").
  SystemdNotifier(EventLoop& loop, std::function<std::string()> status);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return static_cast<bool>(socket_); }
  void ready();
  void stopping();

 private:
  void send(const std::string& message);
  void tick();  // STATUS= (and WATCHDOG=1), then re-arms itself

  EventLoop& loop_;
  std::function<std::string()> status_;
  UniqueFd socket_;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
  Clock::duration interval_;
  bool watchdog_ = false;
  TimerId timer_ = kNoTimer;
};

}  // namespace ringwire
