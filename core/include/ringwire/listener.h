#pragma once
// Listener: one loop's listening socket (all loops bind the same address with SO_REUSEPORT, so the
// kernel spreads connections with no lock or hand-off). Owned by its loop's server part; owns the
// socket and a reserve descriptor; loop thread only.
//
// Level-triggered: a backlog left after kMaxAcceptsPerWakeup is reported again next turn. When the
// process runs out of descriptors (EMFILE/ENFILE) the pending connection would keep the socket
// readable and spin the loop, so the Listener frees its reserve descriptor, accepts and closes the
// connections waiting in the backlog (their peers see a prompt close, not a hang), and pauses
// accepting for kAcceptPauseAfterExhaustion before trying again.

#include <netinet/in.h>

#include <chrono>

#include "ringwire/event_loop.h"
#include "ringwire/net.h"
#include "ringwire/stats.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

class AcceptHandler {
 public:
  virtual void on_accepted(UniqueFd socket, const SocketAddress& peer) = 0;

 protected:
  ~AcceptHandler() = default;
};

class Listener final : public IoHandler {
 public:
  // Fairness: at most this many accepts per wake-up, so a connection storm cannot starve the
  // loop's established connections; the rest are picked up on the next turn.
  static constexpr int kMaxAcceptsPerWakeup = 64;
  // How long accepting stops after running out of descriptors: long enough not to spin, short
  // enough that service resumes promptly once descriptors are freed.
  static constexpr std::chrono::milliseconds kAcceptPauseAfterExhaustion{100};
  // At most one log line per this interval for accept errors.
  static constexpr std::chrono::seconds kAcceptErrorLogInterval{1};

  Listener(EventLoop& loop, UniqueFd socket, AcceptHandler& handler, LoopStats& stats);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();  // register with the loop
  void close();  // stop accepting for good and close the socket
  bool open() const { return socket_.valid(); }
  int fd() const { return socket_.get(); }

  void on_io(const Event& event) override;

 private:
  void shed_waiting_connections();
  void pause_accepting();
  void log_accept_error(int error);

  EventLoop& loop_;
  UniqueFd socket_;
  UniqueFd reserve_;  // a spare descriptor, given up to accept-and-close when the table is full
  AcceptHandler& handler_;
  LoopStats& stats_;
  IoToken token_ = 0;
  TimerId resume_timer_ = kNoTimer;
  TimePoint last_error_log_{};
  std::uint64_t errors_since_log_ = 0;
};

}  // namespace ringwire
