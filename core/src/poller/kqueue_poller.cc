#include "poller/kqueue_poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <system_error>

#include "poller/wait_timeout.h"

namespace ringwire {
namespace {

// Tokens travel in udata; they fit a pointer on the 64-bit platforms this is built for.
static_assert(sizeof(void*) >= sizeof(std::uint64_t));
// udata of the wake-up knote: no live token is 0 (EventLoop never gives one).
constexpr std::uintptr_t kWakeIdent = 0;

struct kevent change(std::uintptr_t ident, std::int16_t filter, std::uint16_t flags,
                     std::uint64_t token, std::uint32_t fflags = 0) {
  struct kevent c {};
  c.ident = ident;
  c.filter = filter;
  c.flags = flags;
  c.fflags = fflags;
  c.udata = reinterpret_cast<void*>(static_cast<std::uintptr_t>(token));
  return c;
}

std::uint64_t token_of(const struct kevent& e) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(e.udata));
}

std::uint16_t enable_if(Interest interest, Interest bit) {
  return has(interest, bit) ? EV_ENABLE : EV_DISABLE;
}

std::uint32_t from_kevent(const struct kevent& e) {
  const bool eof = (e.flags & EV_EOF) != 0;
  std::uint32_t flags = 0;
  if (e.filter == EVFILT_READ) flags |= kEventReadable;  // EOF too: recv() returns 0
  if (e.filter == EVFILT_WRITE) flags |= eof ? kEventHangup : kEventWritable;
  if (eof && e.fflags != 0) flags |= kEventError;  // fflags: the socket's pending error
  return flags;
}

[[noreturn]] void fail(int error, const char* what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

KqueuePoller::KqueuePoller() : kq_(::kqueue()) {
  if (!kq_) fail(errno, "kqueue");
  // A kqueue is not inherited by fork(); close-on-exec keeps exec() from carrying it either.
  ::fcntl(kq_.get(), F_SETFD, FD_CLOEXEC);
#ifdef EVFILT_USER
  struct kevent wake_knote = change(kWakeIdent, EVFILT_USER, EV_ADD | EV_CLEAR, 0);
#else
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) fail(errno, "pipe");
  wake_read_.reset(pipe_fds[0]);
  wake_write_.reset(pipe_fds[1]);
  for (int fd : pipe_fds) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  struct kevent wake_knote =
      change(static_cast<std::uintptr_t>(wake_read_.get()), EVFILT_READ, EV_ADD, 0);
#endif
  struct kevent result {};
  apply_now({&wake_knote, 1}, {&result, 1});
  if (result.data != 0) fail(static_cast<int>(result.data), "kevent: the wake-up knote");
}

std::string_view KqueuePoller::name() const {
#if RINGWIRE_KQUEUE_DOUBLE
  return "kqueue(test-double)";  // say so wherever the name is shown: this is not real kqueue
#else
  return "kqueue";
#endif
}

void KqueuePoller::apply_now(std::span<struct kevent> changes, std::span<struct kevent> results) {
  for (struct kevent& c : changes) c.flags |= EV_RECEIPT;
  const timespec zero{};
  // With EV_RECEIPT every change is answered in `results`, so kevent() collects no events.
  if (::kevent(kq_.get(), changes.data(), static_cast<int>(changes.size()), results.data(),
               static_cast<int>(results.size()), &zero) < 0) {
    fail(errno, "kevent");
  }
}

void KqueuePoller::add(int fd, std::uint64_t token, Interest interest) {
  const auto ident = static_cast<std::uintptr_t>(fd);
  struct kevent changes[2] = {
      change(ident, EVFILT_READ, EV_ADD | enable_if(interest, Interest::kRead), token),
      change(ident, EVFILT_WRITE, EV_ADD | enable_if(interest, Interest::kWrite), token)};
  struct kevent results[2]{};
  apply_now(changes, results);
  for (const struct kevent& result : results) {
    if (result.data == 0) continue;
    remove(fd);  // neither knote stays behind to report events for a token nobody holds
    fail(static_cast<int>(result.data), "kevent EV_ADD");
  }
}

void KqueuePoller::modify(int fd, std::uint64_t token, Interest interest) {
  const auto ident = static_cast<std::uintptr_t>(fd);
  changes_.push_back(change(ident, EVFILT_READ, enable_if(interest, Interest::kRead), token));
  changes_.push_back(change(ident, EVFILT_WRITE, enable_if(interest, Interest::kWrite), token));
}

void KqueuePoller::remove(int fd) {
  const auto ident = static_cast<std::uintptr_t>(fd);
  // Its queued interest changes are moot, and must not reach a descriptor reusing the number.
  std::erase_if(changes_, [ident](const struct kevent& c) { return c.ident == ident; });
  struct kevent changes[2] = {change(ident, EVFILT_READ, EV_DELETE, 0),
                              change(ident, EVFILT_WRITE, EV_DELETE, 0)};
  struct kevent results[2]{};
  // ENOENT/EBADF in the results: a knote is already gone; nothing to undo (as epoll's remove).
  apply_now(changes, results);
}

void KqueuePoller::note_failure(const struct kevent& entry) {
  // ENOENT/EBADF: the descriptor was closed, which dropped its knotes. Any other refusal of a
  // queued change is told to its owner as an error event rather than thrown out of the loop.
  if (entry.data == 0 || entry.data == ENOENT || entry.data == EBADF) return;
  if (token_of(entry) != 0) refused_.push_back(token_of(entry));
}

void KqueuePoller::wake() {
#ifdef EVFILT_USER
  const struct kevent trigger = change(kWakeIdent, EVFILT_USER, 0, 0, NOTE_TRIGGER);
  // It fails only if the queue is gone, and then there is no loop left to wake.
  ::kevent(kq_.get(), &trigger, 1, nullptr, 0, nullptr);
#else
  const char one = 1;
  // EAGAIN: the pipe is full, so the loop is already due to wake.
  [[maybe_unused]] auto ignored = ::write(wake_write_.get(), &one, 1);
#endif
}

std::size_t KqueuePoller::wait(std::span<Event> out, std::int64_t timeout_ns) {
  std::size_t filled = 0;
  const auto report_refused = [&] {
    while (!refused_.empty() && filled < out.size()) {
      out[filled++] = Event{refused_.back(), kEventError, 0};
      refused_.pop_back();
    }
  };
  report_refused();
  if (filled > 0) return filled;
  if (changes_.size() > out.size()) {
    // More changes than the event list could answer: apply them first, each with its receipt.
    ready_.resize(changes_.size());
    apply_now(changes_, ready_);
    for (const struct kevent& entry : ready_) note_failure(entry);
    changes_.clear();
  }
  ready_.resize(out.size());

  timespec timeout{};
  // The queued interest changes go with the wait. A change that fails comes back as an EV_ERROR
  // entry (there is room: the list is at least as long as the changes) and then no events are
  // collected this time; level-triggered, they are reported by the next wait.
  const int n =
      ::kevent(kq_.get(), changes_.data(), static_cast<int>(changes_.size()), ready_.data(),
               static_cast<int>(ready_.size()), wait_timeout(timeout_ns, timeout));
  const int error = errno;
  changes_.clear();  // applied, even when the wait was interrupted (BSD applies them first)
  if (n < 0) {
    if (error == EINTR) return 0;
    fail(error, "kevent");
  }
  for (const struct kevent& e : std::span(ready_).first(static_cast<std::size_t>(n))) {
    if ((e.flags & EV_ERROR) != 0) {
      note_failure(e);
    } else if (token_of(e) == 0) {
#ifndef EVFILT_USER
      char drain[64];
      while (::read(wake_read_.get(), drain, sizeof drain) > 0) {
      }
#endif
    } else {
      out[filled++] = Event{token_of(e), from_kevent(e), 0};
    }
  }
  report_refused();
  return filled;
}

}  // namespace ringwire
