#pragma once
// SignalWatcher: delivers SIGINT and SIGTERM to an EventLoop through a signalfd, so signal
// handling is ordinary loop code (no async-signal-safety puzzles). Owns the signalfd; the signals
// must be blocked in every thread first (block_shutdown_signals() before any thread starts).

#include <functional>

#include "ringwire/event_loop.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

void block_shutdown_signals();

class SignalWatcher final : public IoHandler {
 public:
  SignalWatcher(EventLoop& loop, std::function<void(int signal)> on_signal);
  ~SignalWatcher();
  void on_io(const Event& event) override;

 private:
  EventLoop& loop_;
  UniqueFd fd_;
  IoToken token_;
  std::function<void(int)> on_signal_;
};

}  // namespace ringwire
