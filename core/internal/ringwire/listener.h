#pragma once
// Listener: one loop's listening socket on the native EventLoop (all loops bind the same address
// with SO_REUSEPORT, so the kernel spreads connections with no lock or hand-off). An Acceptor does
// the accepting; the Listener watches the socket (level-triggered: a backlog left after one batch
// is reported again next turn) and stops watching for Acceptor::kPause when the Acceptor has shed
// the backlog for lack of descriptors. Owned by its loop's server part; loop thread only.

#include "ringwire/acceptor.h"
#include "ringwire/event_loop.h"

namespace ringwire {

class Listener final : public IoHandler {
 public:
  Listener(EventLoop& loop, UniqueFd socket, AcceptHandler& handler, LoopStats& stats);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();  // register with the loop
  void close();  // stop accepting for good and close the socket
  bool open() const { return acceptor_.open(); }
  int fd() const { return acceptor_.fd(); }

  void on_io(const Event& event) override;

 private:
  void pause_accepting();

  EventLoop& loop_;
  Acceptor acceptor_;
  IoToken token_ = 0;
  TimerId resume_timer_ = kNoTimer;
};

}  // namespace ringwire
