#pragma once
// Worker: one load thread. Owns its EventLoop, its share of the connections, its open-loop
// schedule and its ThreadStats. Constructed and read by the controlling thread; everything else
// runs on the worker's loop thread, reached only through EventLoop::post().
//
// Open loop: one loop timer at a time, for the earliest due send. The loop waits for it with a
// nanosecond timeout (epoll_pwait2) under 1 ns of timer slack, so a wake-up costs the wait the
// loop makes anyway and no timer syscall of its own; each wake-up issues every frame due, and
// each connection sends its due frames in one send().

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "client_connection.h"
#include "load_stats.h"
#include "open_loop_schedule.h"
#include "options.h"
#include "payload.h"
#include "ringwire/event_loop.h"
#include "ringwire/net.h"

namespace ringwire::load {

// Phase changes the workers report to the controlling thread. Any thread.
class Coordinator {
 public:
  // `established`: how many of the worker's connections are open.
  void worker_connected(std::size_t established);
  std::size_t established() const;
  void worker_finished();
  // Waits until `workers` have reported the phase, or the deadline passes; returns whether they
  // did.
  bool wait_connected(std::size_t workers, std::chrono::steady_clock::time_point deadline);
  bool wait_finished(std::size_t workers, std::chrono::steady_clock::time_point deadline);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t established_ = 0;  // guarded by mutex_
  std::size_t connected_ = 0;    // guarded by mutex_
  std::size_t finished_ = 0;     // guarded by mutex_
};

// The run's timeline, in now_ns() time.
struct RunPlan {
  std::int64_t start_ns = 0;          // sending begins (warm-up)
  std::int64_t measure_start_ns = 0;  // the measurement window begins
  std::int64_t measure_end_ns = 0;    // the window ends; connections close
};

class Worker final {
 public:
  Worker(const LoadOptions& options, std::size_t index, const SocketAddress& server,
         const std::vector<SocketAddress>& sources, Coordinator& coordinator);
  ~Worker();

  EventLoop& loop() { return loop_; }
  // Loop thread: opens this worker's connections, at --connect-rate.
  void begin_connect();
  // Loop thread: runs the plan; reports worker_finished() when the window has ended.
  void begin_run(const RunPlan& plan);
  // Loop thread: copies the live figures and starts a new live interval.
  void snapshot_live(LiveSnapshot& out);
  // Loop thread: closes every connection (idempotent), then stops the loop.
  void shut_down();
  // After the thread ended (or on the loop thread).
  ThreadStats& stats() { return stats_; }

  // For the connections (loop thread).
  const LoadOptions& options() const { return options_; }
  const PayloadFormat& format() const { return format_; }
  bool sending() const { return sending_; }
  bool in_window(std::int64_t ns) const {
    return ns >= plan_.measure_start_ns && ns < plan_.measure_end_ns;
  }
  std::int64_t window_start() const { return plan_.measure_start_ns; }
  std::size_t input_capacity() const { return input_capacity_; }
  std::size_t output_capacity() const { return output_capacity_; }
  // A connect of connection `local` finished: during the connect phase, or (--churn) a slot's
  // reconnect during the run.
  void on_connect_finished(std::size_t local, bool connected);
  // --churn: connection `local` finished its frames and closed: connect it again.
  void reconnect(std::size_t local);
  void on_connection_closed();

 private:
  void connect_more();
  void run_schedule();
  void arm_schedule_timer(std::int64_t deadline_ns);
  void start_sending();
  void begin_window();
  void end_window();
  void close_all();

  LoadOptions options_;
  std::size_t index_;
  SocketAddress server_;
  std::vector<SocketAddress> sources_;
  Coordinator& coordinator_;
  PayloadFormat format_;
  std::size_t input_capacity_;
  std::size_t output_capacity_;

  EventLoop loop_;
  std::vector<std::size_t> global_indices_;
  std::vector<std::unique_ptr<ClientConnection>> connections_;
  std::size_t next_to_connect_ = 0;
  std::size_t connects_in_flight_ = 0;
  std::size_t connects_finished_ = 0;
  std::int64_t connect_start_ns_ = 0;
  bool connect_timer_armed_ = false;
  bool in_connect_more_ = false;  // connect() may report a failure synchronously: no recursion
  bool run_started_ = false;      // begin_run() was called: connects now are churn's reconnects

  std::optional<OpenLoopSchedule> schedule_;
  TimerId schedule_timer_ = kNoTimer;  // the loop timer for the earliest due send
  std::vector<std::size_t> touched_;   // connections given due frames this wake-up
  std::vector<bool> touched_mark_;     // ... as a flag per connection, to list each once

  RunPlan plan_;
  bool sending_ = false;
  double cpu_user_start_ = 0;
  double cpu_system_start_ = 0;
  ThreadStats stats_;
};

}  // namespace ringwire::load
