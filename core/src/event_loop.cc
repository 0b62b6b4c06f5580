#include "ringwire/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace ringwire {
namespace {

constexpr std::uint32_t kGenerationMask = (1u << (kCompletionTokenBits - 32)) - 1;

constexpr std::uint32_t slot_of(IoToken token) { return static_cast<std::uint32_t>(token); }
constexpr std::uint32_t generation_of(IoToken token) {
  return static_cast<std::uint32_t>(token >> 32) & kGenerationMask;
}
// Never 0, so no live token is 0 (owners use 0 for "none").
constexpr std::uint32_t next_generation(std::uint32_t generation) {
  const std::uint32_t next = (generation + 1) & kGenerationMask;
  return next == 0 ? 1 : next;
}
constexpr IoToken make_token(std::uint32_t slot, std::uint32_t generation) {
  return (IoToken{generation} << 32) | slot;
}

}  // namespace

// Waker: the eventfd other threads write to wake the loop for posted tasks or stop().
class EventLoop::Waker final : public IoHandler {
 public:
  Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  int fd() const { return fd_.get(); }
  void wake() {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is saturated: the loop is already due to wake.
    [[maybe_unused]] auto ignored = ::write(fd_.get(), &one, sizeof one);
  }
  void on_io(const Event&) override {
    std::uint64_t count;
    [[maybe_unused]] auto ignored = ::read(fd_.get(), &count, sizeof count);
  }

 private:
  UniqueFd fd_;
};

EventLoop::EventLoop(std::string_view backend) : poller_(make_poller(backend)) {
  if (!poller_->wakes()) {
    waker_ = std::make_unique<Waker>();
    add_io(waker_->fd(), Interest::kRead, *waker_);
  }
}

EventLoop::~EventLoop() = default;

void EventLoop::run() {
  owner_.store(std::this_thread::get_id());
  std::array<Event, kMaxEventsPerWait> events;
  while (!stop_requested_.load(std::memory_order_acquire)) {
    const std::size_t n = poller_->wait(events, wait_timeout_ns());
    const TimePoint woke = refresh_now();
    for (std::size_t i = 0; i < n; ++i) {
      if (Registration* registration = find(events[i].token)) {
        registration->handler->on_io(events[i]);
      }
    }
    timers_.run_due(now_);
    run_posted_tasks();
    if (BucketHistogram::kEnabled && turns_ != nullptr) {
      turns_->record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - woke).count()));
    }
  }
  stop_requested_.store(false);
  owner_.store(std::thread::id());  // between runs any one thread may use it (tests, teardown)
}

void EventLoop::loop_thread_violated() {
  std::fprintf(stderr, "ringwire: a loop-only method was called from another thread\n");
  std::abort();
}

void EventLoop::stop() {
  stop_requested_.store(true, std::memory_order_release);
  wake();
}

void EventLoop::post(Task task) {
  bool was_empty;
  {
    std::lock_guard lock(tasks_mutex_);
    was_empty = tasks_.empty();
    tasks_.push_back(std::move(task));
  }
  // Only the first task of a batch needs a wake-up: the loop takes the whole batch at once.
  if (was_empty) wake();
}

void EventLoop::wake() {
  if (waker_) {
    waker_->wake();
  } else {
    poller_->wake();
  }
}

void EventLoop::run_posted_tasks() {
  {
    std::lock_guard lock(tasks_mutex_);
    if (tasks_.empty()) return;
    running_tasks_.swap(tasks_);
  }
  for (Task& task : running_tasks_) task();
  running_tasks_.clear();
}

std::int64_t EventLoop::wait_timeout_ns() const {
  if (timers_.empty()) return -1;
  const auto wait = timers_.next_deadline() - Clock::now();
  return std::max<std::int64_t>(0,
                                std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count());
}

IoToken EventLoop::add_io(int fd, Interest interest, IoHandler& handler) {
  check_loop_thread();
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(registrations_.size());
    registrations_.emplace_back();
  }
  Registration& r = registrations_[slot];
  const IoToken token = make_token(slot, r.generation);
  poller_->add(fd, token, interest);
  r.handler = &handler;
  r.fd = fd;
  r.interest = interest;
  ++live_registrations_;
  return token;
}

void EventLoop::set_interest(IoToken token, Interest interest) {
  check_loop_thread();
  Registration* r = find(token);
  if (r == nullptr || r->interest == interest) return;
  poller_->modify(r->fd, token, interest);
  r->interest = interest;
}

void EventLoop::remove_io(IoToken token) {
  check_loop_thread();
  Registration* r = find(token);
  if (r == nullptr) return;
  poller_->remove(r->fd);
  r->handler = nullptr;
  r->fd = -1;
  // Events already fetched for this registration are dropped by find(); the generation wraps
  // within the token's bits, skipping 0.
  r->generation = next_generation(r->generation);
  free_slots_.push_back(slot_of(token));
  --live_registrations_;
}

void EventLoop::submit_recv_multishot(IoToken token, std::uint8_t op) {
  check_loop_thread();
  if (Registration* r = find(token)) poller_->recv_multishot(r->fd, token, op);
}

void EventLoop::submit_sendmsg(IoToken token, const msghdr& message, int flags, std::uint8_t op) {
  check_loop_thread();
  if (Registration* r = find(token)) poller_->sendmsg(r->fd, message, flags, token, op);
}

void EventLoop::submit_accept_multishot(IoToken token, std::uint8_t op) {
  check_loop_thread();
  if (Registration* r = find(token)) poller_->accept_multishot(r->fd, token, op);
}

void EventLoop::submit_cancel(IoToken token, std::uint8_t op) {
  check_loop_thread();
  if (find(token) != nullptr) poller_->cancel(token, op);
}

void EventLoop::cancel_all_now(IoToken token) {
  check_loop_thread();
  if (Registration* r = find(token)) poller_->cancel_now(r->fd);
}

EventLoop::Registration* EventLoop::find(IoToken token) {
  const std::uint32_t slot = slot_of(token);
  if (slot >= registrations_.size()) return nullptr;
  Registration& r = registrations_[slot];
  if (r.handler == nullptr || r.generation != generation_of(token)) return nullptr;
  return &r;
}

}  // namespace ringwire
