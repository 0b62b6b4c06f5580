#pragma once
// Poller: the portability seam. One small interface, one file per backend in core/src/poller/, and
// one chooser (make_poller) that alone knows which backends exist.
//
// The seam fits both models. Readiness backends (epoll, kqueue) report "this fd can be read or
// written" and the owner then calls recv/send itself. A completion backend (io_uring) serves the
// same add/modify/remove calls with poll requests, and also takes operations into the caller's
// memory (completions(): receive into a span, send a message, cancel) and reports each finished
// one as an Event with kEventCompletion, the caller's op tag and the result (bytes or -errno).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct msghdr;

namespace ringwire {

class Counter;

// What a registration wants to hear about. A bit set.
enum class Interest : std::uint8_t { kNone = 0, kRead = 1, kWrite = 2, kReadWrite = 3 };
constexpr Interest operator|(Interest a, Interest b) {
  return static_cast<Interest>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr bool has(Interest set, Interest bit) {
  return (static_cast<std::uint8_t>(set) & static_cast<std::uint8_t>(bit)) != 0;
}

// Event flags, a bit set. Hangup and error are reported whatever the interest.
inline constexpr std::uint32_t kEventReadable = 1u << 0;
inline constexpr std::uint32_t kEventWritable = 1u << 1;
inline constexpr std::uint32_t kEventHangup = 1u << 2;  // both directions are shut (or reset)
inline constexpr std::uint32_t kEventError = 1u << 3;   // the socket has a pending error
// Completion backends: an operation finished (Event::op says which, Event::result how).
inline constexpr std::uint32_t kEventCompletion = 1u << 4;
inline constexpr std::uint32_t kEventMore = 1u << 5;  // a multishot operation goes on

struct Event {
  std::uint64_t token = 0;  // what the registration was given: a slot index and a generation
  std::uint32_t flags = 0;
  std::int32_t result = 0;  // completion backends: bytes transferred, or -errno
  std::uint8_t op = 0;      // completion backends: the tag the operation was submitted with
  // A multishot receive's bytes (`result` of them), lent by the backend for this event's dispatch
  // only: copy them out before returning. Null for every other event.
  const std::byte* data = nullptr;
};

// Tokens given to completion operations must fit in this many bits (the backend keeps the op tag
// beside the token in the kernel's 64-bit request tag).
inline constexpr int kCompletionTokenBits = 56;

class Poller {
 public:
  virtual ~Poller() = default;
  virtual std::string_view name() const = 0;
  // Each throws std::system_error if the kernel refuses.
  virtual void add(int fd, std::uint64_t token, Interest interest) = 0;
  virtual void modify(int fd, std::uint64_t token, Interest interest) = 0;
  virtual void remove(int fd) = 0;
  // Waits at most timeout_ns (negative: no limit; 0: do not block) and fills `out`.
  // Returns how many events were filled; an interrupted wait returns 0.
  virtual std::size_t wait(std::span<Event> out, std::int64_t timeout_ns) = 0;

  // Cross-thread wake-up, for a backend that has its own (kqueue: EVFILT_USER). Where wakes() is
  // true, wake() (any thread) makes the wait() in progress, or the next one, return; the others
  // leave it to EventLoop, which registers an eventfd.
  virtual bool wakes() const { return false; }
  virtual void wake() {}

  // ---- completion form: only where completions() is true; the others throw std::logic_error ----
  // Each operation is submitted with the next wait() and reported there. The memory it points at
  // (the span, the message, its iovecs and buffers) must stay valid until its completion arrives
  // or cancel_now() returned.
  virtual bool completions() const { return false; }
  // A multishot receive into the backend's own buffers: a completion per arrival (bytes at
  // Event::data; 0 at EOF; -ENOBUFS when the buffers ran dry), kEventMore while it goes on.
  virtual void recv_multishot(int fd, std::uint64_t token, std::uint8_t op);
  virtual void sendmsg(int fd, const msghdr& message, int flags, std::uint64_t token,
                       std::uint8_t op);
  // A multishot accept on a listening socket: a completion per accepted socket (the result is
  // its descriptor, non-blocking and close-on-exec), kEventMore while it goes on; any error ends
  // it.
  virtual void accept_multishot(int fd, std::uint64_t token, std::uint8_t op);
  // Asks the kernel to cancel the operation (it completes, with its bytes or -ECANCELED).
  virtual void cancel(std::uint64_t token, std::uint8_t op);
  // Cancels every operation on `fd` before returning: the kernel touches none of their memory
  // after. Their completions may still be reported; the caller drops them (a new token).
  virtual void cancel_now(int fd);
  // Where to count the waits that found the completion queue overflowed (the kernel kept the
  // surplus and the wait flushed it); null: nowhere. Only completion backends can overflow.
  virtual void count_overflows_in(Counter* counter) { (void)counter; }
};

// The backends this build has, best first ("epoll", "io_uring", "kqueue").
std::vector<std::string> available_backends();
// A poller of the named backend, or the platform's best when `backend` is empty.
// Throws std::invalid_argument naming the choices when there is no such backend.
std::unique_ptr<Poller> make_poller(std::string_view backend = {});

}  // namespace ringwire
