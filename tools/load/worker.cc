#include "worker.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <system_error>

namespace ringwire::load {

namespace {

// Connects in progress per worker at once: enough to open thousands of connections a second,
// few enough that all threads together stay under the server's listen backlog (somaxconn, 4096),
// where a dropped SYN would cost a one-second retransmit and fake a slow connect.
constexpr std::size_t kMaxConnectsInFlight = 256;
// A connection's input ring: at least this much, so a burst of replies is read in one recv().
constexpr std::size_t kMinInputRing = 16 * 1024;
// ... and at most this much beyond one whole reply: deep pipelines of big frames drain as they
// are read, and rings cost address space and page-table entries per connection.
constexpr std::size_t kMaxRingBytes = 4 * 1024 * 1024;
// Discard (no replies): frames built per refill, so one send() moves about this many bytes.
constexpr std::size_t kDiscardBatchBytes = 64 * 1024;
// --churn: a slot whose reconnect failed tries again after this long.
constexpr std::int64_t kChurnRetryNs = 10'000'000;

TimePoint to_time_point(std::int64_t ns) { return TimePoint(std::chrono::nanoseconds(ns)); }

void thread_cpu(double& user_s, double& system_s) {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  user_s = static_cast<double>(usage.ru_utime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec) * 1e-6;
  system_s = static_cast<double>(usage.ru_stime.tv_sec) +
             static_cast<double>(usage.ru_stime.tv_usec) * 1e-6;
}

}  // namespace

void Coordinator::worker_connected(std::size_t established) {
  std::lock_guard lock(mutex_);
  ++connected_;
  established_ += established;
  changed_.notify_all();
}

std::size_t Coordinator::established() const {
  std::lock_guard lock(mutex_);
  return established_;
}

void Coordinator::worker_finished() {
  std::lock_guard lock(mutex_);
  ++finished_;
  changed_.notify_all();
}

bool Coordinator::wait_connected(std::size_t workers,
                                 std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return connected_ >= workers; });
}

bool Coordinator::wait_finished(std::size_t workers,
                                std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return finished_ >= workers; });
}

Worker::Worker(const LoadOptions& options, std::size_t index, const SocketAddress& server,
               const std::vector<SocketAddress>& sources, Coordinator& coordinator)
    : options_(options),
      index_(index),
      server_(server),
      sources_(sources),
      coordinator_(coordinator),
      format_(options.size, options.service == ServiceKind::kSized, options.reply_size) {
  const std::size_t reply = options.reply_frame_size();
  const std::size_t request = options.request_frame_size();
  input_capacity_ =
      std::max({kMinInputRing, reply, std::min<std::size_t>(reply * options.depth, kMaxRingBytes)});
  if (options.expects_replies()) {
    output_capacity_ =
        std::max(request, std::min<std::size_t>(request * options.depth, kMaxRingBytes));
  } else {
    output_capacity_ = std::max(request * options.depth, kDiscardBatchBytes / request * request);
  }
  for (std::size_t g = index; g < options.connections; g += options.threads) {
    global_indices_.push_back(g);
    connections_.push_back(std::make_unique<ClientConnection>(*this, connections_.size()));
  }
  if (options.open_loop()) {
    schedule_.emplace(options.rate, options.connections, global_indices_);
    touched_mark_.assign(connections_.size(), false);
  }
}

Worker::~Worker() = default;

void Worker::begin_connect() {
  // Timer slack: the kernel may delay this thread's timed waits by up to the slack (50 µs by
  // default) to batch wake-ups; the open-loop schedule wants its deadlines to the microsecond.
  // 1 ns is the least there is (0 would restore the default).
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  connect_start_ns_ = now_ns();
  connect_more();
}

void Worker::connect_more() {
  in_connect_more_ = true;
  const std::int64_t now = now_ns();
  while (next_to_connect_ < connections_.size() && connects_in_flight_ < kMaxConnectsInFlight) {
    if (options_.connect_rate > 0) {
      // This worker's share of the ramp: every threads/connect_rate seconds one connection.
      const auto due =
          connect_start_ns_ + static_cast<std::int64_t>(static_cast<double>(next_to_connect_) *
                                                        static_cast<double>(options_.threads) *
                                                        1e9 / options_.connect_rate);
      if (due > now) {
        if (!connect_timer_armed_) {
          connect_timer_armed_ = true;
          loop_.add_timer(to_time_point(due), [this] {
            connect_timer_armed_ = false;
            connect_more();
          });
        }
        break;
      }
    }
    const std::size_t local = next_to_connect_++;
    const std::size_t global = global_indices_[local];
    ++connects_in_flight_;
    connections_[local]->connect(server_,
                                 sources_.empty() ? nullptr : &sources_[global % sources_.size()]);
  }
  in_connect_more_ = false;
}

void Worker::on_connect_finished(std::size_t local, bool connected) {
  if (run_started_) {
    if (connected) {
      ++stats_.connections_open;
    } else if (sending_) {
      // A failed reconnect (counted by errno) is retried after a pause, not in a tight loop.
      loop_.add_timer(to_time_point(now_ns() + kChurnRetryNs), [this, local] {
        if (sending_) reconnect(local);
      });
    }
    return;
  }
  --connects_in_flight_;
  ++connects_finished_;
  if (connected) {
    ++stats_.connections_open;
    ++stats_.connections_established;
  }
  if (connects_finished_ == connections_.size()) {
    coordinator_.worker_connected(stats_.connections_open);
  } else if (!in_connect_more_) {
    connect_more();
  }
}

void Worker::on_connection_closed() { --stats_.connections_open; }

void Worker::reconnect(std::size_t local) {
  const std::size_t global = global_indices_[local];
  connections_[local]->connect(server_,
                               sources_.empty() ? nullptr : &sources_[global % sources_.size()]);
}

void Worker::begin_run(const RunPlan& plan) {
  plan_ = plan;
  run_started_ = true;
  // Whatever is still connecting now missed the start: it is given up and counted.
  next_to_connect_ = connections_.size();
  for (auto& connection : connections_) {
    if (connection->connecting()) {
      const ErrorKind kind = ErrorKind::kConnectTimeout;
      connection->close(&kind);
    }
  }
  if (schedule_) {
    schedule_->start(plan.start_ns);
    sending_ = true;
    arm_schedule_timer(schedule_->next_due_ns());
  } else {
    loop_.add_timer(to_time_point(plan.start_ns), [this] { start_sending(); });
  }
  loop_.add_timer(to_time_point(plan.measure_start_ns), [this] { begin_window(); });
  loop_.add_timer(to_time_point(plan.measure_end_ns), [this] { end_window(); });
}

void Worker::start_sending() {
  sending_ = true;
  const std::int64_t now = now_ns();
  for (auto& connection : connections_) connection->pump(now);
}

void Worker::arm_schedule_timer(std::int64_t deadline_ns) {
  // A loop timer: the loop's own wait (epoll_pwait2, nanosecond timeout) ends at the deadline.
  // A deadline already past runs on the next turn, after the events that turn brings.
  schedule_timer_ = loop_.add_timer(to_time_point(deadline_ns), [this] {
    schedule_timer_ = kNoTimer;
    run_schedule();
  });
}

void Worker::run_schedule() {
  if (!sending_) return;
  const std::int64_t now = now_ns();
  touched_.clear();
  schedule_->run_due(now, [&](std::size_t local, std::int64_t scheduled) {
    if (in_window(scheduled))
      stats_.schedule_lag.record(static_cast<std::uint64_t>(now - scheduled));
    connections_[local]->enqueue(scheduled);
    if (!touched_mark_[local]) {
      touched_mark_[local] = true;
      touched_.push_back(local);
    }
  });
  for (const std::size_t local : touched_) {
    touched_mark_[local] = false;
    connections_[local]->pump(now);
  }
  arm_schedule_timer(schedule_->next_due_ns());
}

void Worker::begin_window() { thread_cpu(cpu_user_start_, cpu_system_start_); }

void Worker::end_window() {
  double user = 0, system = 0;
  thread_cpu(user, system);
  stats_.cpu_user_s = user - cpu_user_start_;
  stats_.cpu_system_s = system - cpu_system_start_;
  const std::int64_t now = now_ns();
  for (auto& connection : connections_) {
    connection->close_gap(now);
    stats_.connection_frames.push_back(connection->frames_in_window());
    stats_.connection_max_gap_ns.push_back(connection->max_gap_ns());
  }
  sending_ = false;
  close_all();
  coordinator_.worker_finished();
}

void Worker::close_all() {
  for (auto& connection : connections_) connection->close();
  loop_.cancel_timer(schedule_timer_);
  schedule_timer_ = kNoTimer;
}

void Worker::shut_down() {
  sending_ = false;
  close_all();
  loop_.stop();
}

void Worker::snapshot_live(LiveSnapshot& out) {
  out.live = stats_.live;
  stats_.live.reset();
  if (!options_.hist_log_file.empty()) {
    out.logged = stats_.logged;
    stats_.logged.reset();
  }
  out.frames_total = stats_.frames_total;
  out.errors = stats_.error_total();
  out.connections_open = stats_.connections_open;
}

}  // namespace ringwire::load
