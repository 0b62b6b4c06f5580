#pragma once
// Reactor: a group of N EventLoops, each run on its own thread and optionally pinned to a core.
// Owns the loops and the threads. Construct, start() and stop()/join() from one controlling
// thread; the loops themselves share nothing.

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringwire/event_loop.h"

namespace ringwire {

struct ReactorOptions {
  std::size_t loops = 0;  // 0: one per online core
  bool pin_cpus = false;  // pin loop i to the i-th CPU the process may run on
  std::string backend;    // empty: the platform's best
};

// Prepares the calling thread to run loop `index` of a group: names it "ringwire-loopN" (the thread
// and its log lines) and, with
// `pin`, pins it to the index-th CPU the process may run on (modulo their number). Shared by every
// engine's loop threads.
void setup_loop_thread(std::size_t index, bool pin);

class Reactor {
 public:
  explicit Reactor(const ReactorOptions& options);
  ~Reactor();  // stops and joins
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  std::size_t size() const { return loops_.size(); }
  EventLoop& loop(std::size_t index) { return *loops_[index]; }
  const EventLoop& loop(std::size_t index) const { return *loops_[index]; }

  void start();  // one thread per loop
  void stop();   // asks every loop to stop; any thread
  void join();

  static std::size_t online_cores();

 private:
  ReactorOptions options_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::thread> threads_;
};

}  // namespace ringwire
