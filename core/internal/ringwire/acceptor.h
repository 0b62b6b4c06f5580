#pragma once
// Acceptor: the half of a listener that does not depend on the event loop, shared by the native
// Listener and the uv engine. Owns one listening socket and a reserve descriptor; loop thread only.
//
// accept_waiting() takes a bounded batch of waiting connections and hands each to the handler.
// When the process is out of descriptors (EMFILE/ENFILE) the connection at the head of the
// backlog would keep the socket readable and spin the loop, so the Acceptor frees its reserve
// descriptor, accepts and closes the connections waiting in the backlog (their peers see a prompt
// close, not a hang; a handler may instead serve the first of them on it: serve_on_reserve()),
// and tells its caller to stop watching the socket for kPause. Failures are
// counted and logged at most once per interval.

#include <chrono>

#include "ringwire/log_limiter.h"
#include "ringwire/net.h"
#include "ringwire/stats.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

class AcceptHandler {
 public:
  virtual void on_accepted(UniqueFd socket, const SocketAddress& peer) = 0;
  // True: when the table is full, the first waiting connection is served on the reserve
  // descriptor instead of shed (the metrics endpoint: a scrape is wanted most just then). The
  // reserve is taken back when the pause ends, if that connection has closed by then.
  virtual bool serve_on_reserve() const { return false; }

 protected:
  ~AcceptHandler() = default;
};

class Acceptor {
 public:
  // Fairness: at most this many accepts per wake-up, so a connection storm cannot starve the
  // loop's established connections; the rest are picked up on the next turn. Shedding is bounded
  // the same way.
  static constexpr int kMaxAcceptsPerWakeup = 64;
  // How long accepting stops after running out of descriptors: long enough not to spin, short
  // enough that service resumes promptly once descriptors are freed.
  static constexpr std::chrono::milliseconds kPause{100};

  enum class Result {
    kDone,            // the backlog is empty, the batch is spent, or the error is retried next turn
    kPauseAccepting,  // out of descriptors, backlog shed: stop watching the socket for kPause
  };

  Acceptor(UniqueFd socket, AcceptHandler& handler, LoopStats& stats);

  // The socket is readable: accepts what is waiting, at most `limit`. The handler may close() the
  // Acceptor.
  Result accept_waiting(TimePoint now, int limit = kMaxAcceptsPerWakeup);
  // Completion form (a multishot accept): the kernel accepted `socket` for us, or failed with
  // `error` (counted, logged, and for lack of descriptors the backlog is shed: kPauseAccepting).
  void accepted(UniqueFd socket);
  Result accept_failed(int error, TimePoint now);
  // The pause is over: takes the reserve back if another thread held the last descriptor when
  // shedding ended.
  void pause_ended();

  void close() { socket_.reset(); }  // stop accepting for good
  bool open() const { return socket_.valid(); }
  int fd() const { return socket_.get(); }

 private:
  void shed_waiting_connections();

  UniqueFd socket_;
  UniqueFd reserve_;  // a spare descriptor, given up to accept-and-close when the table is full
  AcceptHandler& handler_;
  LoopStats& stats_;
  LogLimiter log_limit_;
};

}  // namespace ringwire
