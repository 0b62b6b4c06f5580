#pragma once
// EventLoop: one per thread. Owns its Poller, its TimerQueue, its registration table and a queue
// of tasks posted from other threads (woken through an eventfd). Everything but post(), stop()
// and in_loop_thread() is for the loop's own thread.
//
// One turn of run():  wait for events (until the next timer)  ->  dispatch them to their handlers
//                     ->  run the timers that are due  ->  run the tasks posted from other threads
//
// Dispatch is a flat table indexed by the token's slot; the token's generation drops an event for
// a registration removed earlier in the same batch, with no reference counting.
//
// Completion form (completions(): io_uring): a handler registers its descriptor with no interest
// and submits operations under its token, each with a tag of its own (submit_recv_multishot,
// submit_sendmsg, submit_accept_multishot, submit_cancel); every finished one comes back through
// the same table as an Event with kEventCompletion, that tag and the result (a receive's bytes lent
// at Event::data). They ride the next turn's wait (one io_uring_enter submits and waits). A
// registration with operations in flight is removed only after cancel_all_now(): their late
// completions then carry a dead generation and are dropped.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "ringwire/bucket_histogram.h"
#include "ringwire/poller.h"
#include "ringwire/timer_queue.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

// Receives the events of the registrations it owns.
class IoHandler {
 public:
  virtual void on_io(const Event& event) = 0;

 protected:
  ~IoHandler() = default;
};

// Slot index (low 32 bits) and generation (the next 24 bits: tokens fit kCompletionTokenBits, and
// a slot would have to be reused 16 million times while a stale event is on its way to alias).
using IoToken = std::uint64_t;
using Task = std::function<void()>;

class EventLoop {
 public:
  // Events taken from the poller per wait: enough to amortise the syscall, small enough that
  // timers and posted tasks are not starved behind one huge batch.
  static constexpr std::size_t kMaxEventsPerWait = 256;

  // `backend`: a name from available_backends(), or empty for the platform's best.
  explicit EventLoop(std::string_view backend = {});
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs turns until stop(). The calling thread becomes the loop thread.
  void run();
  // Any thread: ends run() after the current turn.
  void stop();
  // Any thread: runs `task` on the loop thread during a coming turn, in posting order.
  void post(Task task);
  bool in_loop_thread() const { return std::this_thread::get_id() == owner_.load(); }
  // Loop-only methods check their caller in debug and sanitizer builds (RINGWIRE_CHECK_THREADS):
  // while run() is running, only its thread may touch the registrations and timers.
  void check_loop_thread() const {
#ifdef RINGWIRE_CHECK_THREADS
    const std::thread::id owner = owner_.load(std::memory_order_relaxed);
    if (owner != std::thread::id() && owner != std::this_thread::get_id()) loop_thread_violated();
#endif
  }

  // Registrations. `handler` must outlive the registration.
  IoToken add_io(int fd, Interest interest, IoHandler& handler);
  // Changes the interest; no syscall when it is what the poller already has.
  void set_interest(IoToken token, Interest interest);
  void remove_io(IoToken token);

  // Completion form; see the top of this file. Only where completions().
  bool completions() const { return poller_->completions(); }
  void submit_recv_multishot(IoToken token, std::uint8_t op);
  void submit_accept_multishot(IoToken token, std::uint8_t op);
  void submit_sendmsg(IoToken token, const msghdr& message, int flags, std::uint8_t op);
  void submit_cancel(IoToken token, std::uint8_t op);
  void cancel_all_now(IoToken token);
  // See Poller::count_overflows_in. Not while run() runs.
  void count_overflows_in(Counter* counter) { poller_->count_overflows_in(counter); }

  // Timers, on the loop's cached clock.
  TimerId add_timer(TimePoint deadline, TimerCallback callback) {
    check_loop_thread();
    return timers_.add(deadline, std::move(callback));
  }
  TimerId add_timer_after(Clock::duration delay, TimerCallback callback) {
    check_loop_thread();
    return timers_.add(now_ + delay, std::move(callback));
  }
  void cancel_timer(TimerId id) {
    check_loop_thread();
    timers_.cancel(id);
  }
  // The time the current turn began (one clock read per turn).
  TimePoint now() const { return now_; }
  TimePoint refresh_now() { return now_ = Clock::now(); }

  std::string_view backend_name() const { return poller_->name(); }
  std::size_t registrations() const { return live_registrations_; }

  // From now on records how long each turn takes (from the wait's return to the end of the turn,
  // one more clock read per turn), in nanoseconds. Before run().
  void record_turns_in(BucketHistogram& histogram) { turns_ = &histogram; }

 private:
  class Waker;
  [[noreturn]] static void loop_thread_violated();
  struct Registration {
    IoHandler* handler = nullptr;
    int fd = -1;
    Interest interest = Interest::kNone;
    std::uint32_t generation = 1;
  };

  Registration* find(IoToken token);
  void run_posted_tasks();
  std::int64_t wait_timeout_ns() const;
  void wake();  // any thread: the poller's own wake-up where it has one, else the eventfd

  std::unique_ptr<Poller> poller_;
  TimerQueue timers_;
  std::vector<Registration> registrations_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t live_registrations_ = 0;
  TimePoint now_ = Clock::now();
  BucketHistogram* turns_ = nullptr;

  std::unique_ptr<Waker> waker_;  // only where the poller has no wake-up of its own
  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;  // guarded by tasks_mutex_
  std::vector<Task> running_tasks_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::thread::id> owner_;
};

}  // namespace ringwire
