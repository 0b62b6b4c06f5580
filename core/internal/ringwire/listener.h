#pragma once
// Listener: one loop's listening socket on the native EventLoop (all loops bind the same address
// with SO_REUSEPORT, so the kernel spreads connections with no lock or hand-off). An Acceptor does
// the accepting; the Listener watches the socket (level-triggered: a backlog left after one batch
// is reported again next turn) and stops watching for Acceptor::kPause when the Acceptor has shed
// the backlog for lack of descriptors. Owned by its loop's server part; loop thread only.
//
// On a loop with the completion form (io_uring) it keeps one multishot accept armed instead of
// watching: each completion is one accepted socket, and it is armed again only after a completion
// without IORING_CQE_F_MORE (the kernel ends it on any error: out of descriptors ends it, so
// shedding and the pause work as above, with no spin). Closing cancels it, and the registration
// lives until its last completion, so a socket the kernel accepted meanwhile is still handed over
// (the loop drains it), not lost.
// That accept waits exclusively (one waiter woken per arriving connection), so closing also takes
// the connections waiting in the backlog, whose wake-up the cancelled accept may have had: where
// the socket listens on in another process (listener handover), they would otherwise wait there
// until some later connection woke its accept.

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
  static constexpr std::uint8_t kAccept = 1;  // the multishot accept's op tag

  void on_accept_completion(const Event& event);
  // close(); `take_woken`: hand the handler what waits in the backlog (completion form).
  void stop_accepting(bool take_woken);
  void arm();
  void pause_accepting();

  EventLoop& loop_;
  Acceptor acceptor_;
  IoToken token_ = 0;
  TimerId resume_timer_ = kNoTimer;
  bool armed_ = false;  // completion form: the multishot accept is in the kernel
};

}  // namespace ringwire
