#pragma once
// The kqueue test double: the subset of BSD <sys/event.h> that core/src/poller/kqueue_poller.cc
// uses, implemented on epoll (kevent_double.cc) so the kqueue backend is built and tested on Linux.
// It is NOT kqueue: each place where epoll cannot model the BSD behaviour is said in
// kevent_double.cc. Constants have FreeBSD's values; struct kevent has FreeBSD's first six fields
// (FreeBSD 12+ adds ext[4], which the poller never touches).
//
// Only what the poller uses is here: EVFILT_READ/WRITE on sockets and pipes, EVFILT_USER with
// NOTE_TRIGGER, EV_ADD/DELETE/ENABLE/DISABLE/CLEAR/RECEIPT, and EV_EOF/EV_ERROR in results.
// EV_CLEAR is modelled for EVFILT_USER only; EV_ONESHOT and the other filters are not modelled.

#include <cstdint>
#include <ctime>

struct kevent {
  std::uintptr_t ident;  // the descriptor (READ/WRITE) or any number the caller picks (USER)
  std::int16_t filter;   // EVFILT_*
  std::uint16_t flags;   // EV_* in; EV_EOF/EV_ERROR (and the knote's flags) out
  std::uint32_t fflags;  // NOTE_* in; out: the socket's error with EV_EOF
  std::int64_t data;     // out: bytes readable / space writable; with EV_ERROR the errno (0: ok)
  void* udata;           // the caller's, returned as given by the last EV_ADD
};

inline constexpr std::int16_t EVFILT_READ = -1;
inline constexpr std::int16_t EVFILT_WRITE = -2;
#ifndef RINGWIRE_KQUEUE_DOUBLE_WITHOUT_EVFILT_USER  // (a platform without it: the pipe fallback)
inline constexpr std::int16_t EVFILT_USER = -11;
inline constexpr std::uint32_t NOTE_TRIGGER = 0x01000000;
// The poller tests for the filter with #ifdef, as it must on a platform without it.
#define EVFILT_USER EVFILT_USER
#endif

inline constexpr std::uint16_t EV_ADD = 0x0001;
inline constexpr std::uint16_t EV_DELETE = 0x0002;
inline constexpr std::uint16_t EV_ENABLE = 0x0004;
inline constexpr std::uint16_t EV_DISABLE = 0x0008;
inline constexpr std::uint16_t EV_CLEAR = 0x0020;
inline constexpr std::uint16_t EV_RECEIPT = 0x0040;
inline constexpr std::uint16_t EV_ERROR = 0x4000;
inline constexpr std::uint16_t EV_EOF = 0x8000;

extern "C" {
// A new, empty queue: a descriptor closed with close(). BSD: not inherited by a fork()'s child;
// here it is an epoll descriptor with close-on-exec, and a child would share it (nothing forks).
int kqueue();
// Applies `changes` in order, then (when nothing was reported for them) waits at most `timeout`
// (nullptr: no limit) for up to `nevents` events. See kevent_double.cc for each rule.
int kevent(int kq, const struct kevent* changes, int nchanges, struct kevent* events, int nevents,
           const timespec* timeout);
}
