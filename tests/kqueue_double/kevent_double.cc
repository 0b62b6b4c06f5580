// The kqueue test double on epoll: see sys/event.h. Each rule below is the BSD behaviour the
// poller relies on (kqueue(2) of FreeBSD and macOS), then how this file gets it from epoll, and
// where epoll cannot model it, that too.
//
// One kqueue is one epoll descriptor plus a table of knotes: per descriptor a read and a write
// knote, each existing, enabled or not and carrying its udata; per EVFILT_USER ident a user knote.
// The epoll registration of a descriptor is the union of its enabled knotes (EPOLLIN|EPOLLRDHUP
// for read, EPOLLOUT for write), with the descriptor as data; an eventfd "doorbell" per queue
// wakes a waiting kevent() when another thread triggers a user knote.
//
// The tables are process-wide (keyed by the kqueue's descriptor, behind a mutex), as the kernel's
// are: the API names queues by descriptor only. A queue's entry is found again by its descriptor
// and the inode behind it, so a closed queue's number reused by another file is not taken for it;
// its doorbell is closed when kqueue() next sweeps. Cost: a map lookup per change and per event.

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace {

constexpr std::uint64_t kDoorbell = ~std::uint64_t{0};  // epoll data of the doorbell

struct Knote {
  bool exists = false;
  bool enabled = false;
  void* udata = nullptr;
};

struct UserKnote {
  bool enabled = true;
  bool clear = false;  // EV_CLEAR: the trigger is consumed by the event that reports it
  bool triggered = false;
  void* udata = nullptr;
};

struct FdKnotes {
  Knote read;
  Knote write;
  bool in_epoll = false;
};

struct Queue {
  std::mutex mutex;
  ino_t inode = 0;
  int doorbell = -1;
  std::map<int, FdKnotes> fds;
  std::map<std::uintptr_t, UserKnote> users;
};

struct Registry {
  std::mutex mutex;
  std::map<int, std::shared_ptr<Queue>> queues;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

ino_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

std::shared_ptr<Queue> find_queue(int kq) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = r.queues.find(kq);
  if (it == r.queues.end() || inode_of(kq) != it->second->inode) return nullptr;
  return it->second;
}

std::uint32_t epoll_mask(const FdKnotes& k) {
  std::uint32_t mask = 0;
  if (k.read.exists && k.read.enabled) mask |= EPOLLIN | EPOLLRDHUP;
  if (k.write.exists && k.write.enabled) mask |= EPOLLOUT;
  return mask;
}

// BSD: close() drops every knote of the descriptor; a change naming a descriptor that is not
// open fails with EBADF, and one that needs a knote the close dropped fails with ENOENT.
// Here: epoll also forgets a descriptor when it is closed (strictly, when its open file is
// released: a dup() elsewhere keeps epoll's registration, and BSD's knotes, alive or not, differ
// there), so a registration epoll no longer has means the close happened: its knotes are dropped.
void forget_if_closed(int kq, int fd, FdKnotes& k) {
  if (!k.in_epoll) return;
  epoll_event probe{};
  probe.events = epoll_mask(k);
  probe.data.u64 = static_cast<std::uint64_t>(fd);
  if (::epoll_ctl(kq, EPOLL_CTL_MOD, fd, &probe) != 0) k = FdKnotes{};
}

// BSD: a descriptor's read and write knotes are independent: each is added, enabled, disabled and
// deleted on its own, and EV_ADD of an existing knote updates its udata (and EV_ENABLE/EV_DISABLE
// given with it). A new knote starts enabled unless EV_DISABLE is given. Enabling a knote
// re-evaluates its filter (FreeBSD's kqueue_register calls f_event on any change of an enabled
// knote; XNU's socket f_touch does the same), so a socket already ready is reported; here the
// EPOLL_CTL_MOD that enables it makes epoll look again. EV_CLEAR (edge) is not
// modelled for descriptors: epoll's EPOLLET is per descriptor, not per filter; it is refused.
int change_fd(Queue& q, int kq, const struct kevent& c) {
  const int fd = static_cast<int>(c.ident);
  if (::fcntl(fd, F_GETFD) < 0) {
    q.fds.erase(fd);
    return EBADF;
  }
  if ((c.flags & EV_CLEAR) != 0) return EINVAL;  // not modelled (see above)
  FdKnotes& k = q.fds[fd];
  forget_if_closed(kq, fd, k);
  Knote& knote = c.filter == EVFILT_READ ? k.read : k.write;
  if ((c.flags & EV_ADD) != 0) {
    if (!knote.exists) knote.enabled = true;
    knote.exists = true;
    knote.udata = c.udata;
  } else if (!knote.exists) {
    if (!k.in_epoll) q.fds.erase(fd);
    return ENOENT;
  }
  if ((c.flags & EV_DELETE) != 0) knote = Knote{};
  if ((c.flags & EV_ENABLE) != 0) knote.enabled = true;
  if ((c.flags & EV_DISABLE) != 0) knote.enabled = false;

  epoll_event event{};
  event.events = epoll_mask(k);
  event.data.u64 = static_cast<std::uint64_t>(fd);
  const bool wanted = k.read.exists || k.write.exists;
  int op = wanted ? (k.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD) : EPOLL_CTL_DEL;
  if (!wanted && !k.in_epoll) {
    q.fds.erase(fd);
    return 0;
  }
  if (::epoll_ctl(kq, op, fd, &event) != 0) {
    // epoll refuses regular files (EPERM), which BSD's read and write filters accept.
    const int error = errno;
    knote = Knote{};
    return error;
  }
  k.in_epoll = wanted;
  if (!wanted) q.fds.erase(fd);
  return 0;
}

// BSD EVFILT_USER: a knote named by any ident, triggered by a change with NOTE_TRIGGER in fflags
// (from any thread), reported while triggered and enabled; EV_CLEAR resets it once reported.
// Here: the trigger is a flag in the table and a write to the queue's doorbell eventfd, which
// wakes a kevent() waiting in epoll in another thread.
int change_user(Queue& q, const struct kevent& c) {
  auto it = q.users.find(c.ident);
  if ((c.flags & EV_ADD) != 0) {
    if (it == q.users.end()) it = q.users.emplace(c.ident, UserKnote{}).first;
    it->second.udata = c.udata;
    it->second.clear = (c.flags & EV_CLEAR) != 0;
  } else if (it == q.users.end()) {
    return ENOENT;
  }
  if ((c.flags & EV_DELETE) != 0) {
    q.users.erase(it);
    return 0;
  }
  if ((c.flags & EV_ENABLE) != 0) it->second.enabled = true;
  if ((c.flags & EV_DISABLE) != 0) it->second.enabled = false;
  if ((c.fflags & NOTE_TRIGGER) != 0) {
    it->second.triggered = true;
    const std::uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(q.doorbell, &one, sizeof one);
  }
  return 0;
}

bool any_user_pending(const Queue& q) {
  for (const auto& [ident, knote] : q.users) {
    if (knote.enabled && knote.triggered) return true;
  }
  return false;
}

// The triggered, enabled user knotes, into `out` (at most `room`); EV_CLEAR ones are reset.
int collect_users(Queue& q, struct kevent* out, int room) {
  int n = 0;
  for (auto& [ident, knote] : q.users) {
    if (n == room) break;
    if (!knote.enabled || !knote.triggered) continue;
    out[n++] = {ident, EVFILT_USER, static_cast<std::uint16_t>(knote.clear ? EV_CLEAR : 0),
                0,     0,           knote.udata};
    if (knote.clear) knote.triggered = false;
  }
  return n;
}

// BSD, socket filters: the read knote is active while bytes (data: how many) or a pending
// connection can be read, or the peer shut down its side: then EV_EOF is set, data says the bytes
// still readable, and fflags holds the socket's error if any. The write knote is active while
// there is send space (data: how much), or when nothing more can be sent: then EV_EOF, fflags the
// error. Level-triggered (no EV_CLEAR): reported at every kevent() while so.
// Here: EPOLLRDHUP or EPOLLHUP gives the read EOF; EPOLLHUP or EPOLLERR the write EOF. What epoll
// cannot model: (1) BSD sets the write EOF after our own shutdown(SHUT_WR) too; epoll reports that
// socket writable, and so does this double. (2) The error in fflags is read with SO_ERROR, which
// on Linux also clears it, where BSD leaves it for the next recv/send. (3) data for a listening
// socket (BSD: the accept queue's length) is 0, FIONREAD being refused there.
int translate(Queue& q, int fd, std::uint32_t bits, struct kevent* out, int room) {
  const auto it = q.fds.find(fd);
  if (it == q.fds.end()) return 0;
  const FdKnotes& k = it->second;
  const bool read_eof = (bits & (EPOLLRDHUP | EPOLLHUP)) != 0;
  const bool write_eof = (bits & (EPOLLHUP | EPOLLERR)) != 0;
  std::uint32_t error = 0;
  if ((bits & EPOLLERR) != 0 && (read_eof || write_eof)) {
    int value = 0;
    socklen_t length = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0) {
      error = static_cast<std::uint32_t>(value);
    }
  }
  int n = 0;
  if (n < room && k.read.exists && k.read.enabled &&
      (bits & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    int readable = 0;
    if (::ioctl(fd, FIONREAD, &readable) != 0) readable = 0;
    out[n++] = {static_cast<std::uintptr_t>(fd),
                EVFILT_READ,
                static_cast<std::uint16_t>(read_eof ? EV_EOF : 0),
                read_eof ? error : 0,
                readable,
                k.read.udata};
  }
  if (n < room && k.write.exists && k.write.enabled &&
      (bits & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
    int buffer = 0;
    int queued = 0;
    socklen_t length = sizeof buffer;
    if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, &length) != 0) buffer = 0;
    if (::ioctl(fd, TIOCOUTQ, &queued) != 0) queued = 0;
    out[n++] = {static_cast<std::uintptr_t>(fd),
                EVFILT_WRITE,
                static_cast<std::uint16_t>(write_eof ? EV_EOF : 0),
                write_eof ? error : 0,
                buffer > queued ? buffer - queued : 0,
                k.write.udata};
  }
  return n;
}

}  // namespace

extern "C" int kqueue() {
  const int kq = ::epoll_create1(EPOLL_CLOEXEC);
  if (kq < 0) return -1;
  auto q = std::make_shared<Queue>();
  q->inode = inode_of(kq);
  q->doorbell = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kDoorbell;
  if (q->doorbell < 0 || ::epoll_ctl(kq, EPOLL_CTL_ADD, q->doorbell, &event) != 0) {
    const int error = errno;
    if (q->doorbell >= 0) ::close(q->doorbell);
    ::close(kq);
    errno = error;
    return -1;
  }
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  // Sweep the queues that were closed: their doorbells are the only descriptors they hold.
  for (auto it = r.queues.begin(); it != r.queues.end();) {
    if (it->first == kq || inode_of(it->first) != it->second->inode) {
      ::close(it->second->doorbell);
      it = r.queues.erase(it);
    } else {
      ++it;
    }
  }
  r.queues.emplace(kq, std::move(q));
  return kq;
}

// BSD kevent(): the changes are applied in order, each on its own. A change that fails, or any
// change with EV_RECEIPT, is reported as an event with EV_ERROR and data = the errno (0 for a
// receipt of success) while there is room in `events`; with no room left, kevent() fails with
// that errno and the changes after it are not applied. When anything was reported so, kevent()
// returns at once without collecting events. Otherwise it waits up to `timeout` (a timespec;
// nullptr: no limit; zero: a poll) and returns up to `nevents` events (0 when it timed out; -1
// with EINTR when a signal came). Any thread may call it, on the same queue at once.
// Here: the same, with the wait in epoll_pwait2 (nanosecond timeout). A descriptor ready for both
// filters yields two events; when those overflow `nevents`, the ones left out are level-triggered
// descriptor events, which the next call reports again (user events are collected first).
extern "C" int kevent(int kq, const struct kevent* changes, int nchanges, struct kevent* events,
                      int nevents, const timespec* timeout) {
  const std::shared_ptr<Queue> queue = find_queue(kq);
  if (!queue || nchanges < 0 || nevents < 0) {
    errno = queue ? EINVAL : EBADF;
    return -1;
  }
  Queue& q = *queue;
  int reported = 0;
  {
    std::lock_guard lock(q.mutex);
    for (int i = 0; i < nchanges; ++i) {
      const struct kevent& c = changes[i];
      int error = EINVAL;
      if (c.filter == EVFILT_READ || c.filter == EVFILT_WRITE) error = change_fd(q, kq, c);
      if (c.filter == EVFILT_USER) error = change_user(q, c);
      if (error == 0 && (c.flags & EV_RECEIPT) == 0) continue;
      if (reported == nevents) {
        errno = error;
        return -1;
      }
      events[reported] = c;
      events[reported].flags = EV_ERROR;
      events[reported].data = error;
      ++reported;
    }
    if (reported > 0 || nevents == 0) return reported;
  }

  std::vector<epoll_event> ready(static_cast<std::size_t>(nevents));
  bool users_pending;
  {
    std::lock_guard lock(q.mutex);
    users_pending = any_user_pending(q);
  }
  const timespec zero{};
  const int got =
      ::epoll_pwait2(kq, ready.data(), nevents, users_pending ? &zero : timeout, nullptr);
  if (got < 0) return -1;  // errno: EINTR when a signal came
  std::lock_guard lock(q.mutex);
  int n = collect_users(q, events, nevents);
  for (int i = 0; i < got; ++i) {
    const epoll_event& e = ready[static_cast<std::size_t>(i)];
    if (e.data.u64 == kDoorbell) {
      std::uint64_t count;
      [[maybe_unused]] auto ignored = ::read(q.doorbell, &count, sizeof count);
      continue;
    }
    n += translate(q, static_cast<int>(e.data.u64), e.events, events + n, nevents - n);
  }
  return n;
}
