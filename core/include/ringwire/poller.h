#pragma once
// Poller: the portability seam. One small interface, one file per backend in core/src/poller/, and
// one chooser (make_poller) that alone knows which backends exist.
//
// The seam fits both models. Readiness backends (epoll, kqueue) report "this fd can be read or
// written" and the owner then calls recv/send itself. A completion backend (io_uring) can arm
// multishot poll requests behind the same add/modify/remove calls, or go further and report
// finished receives: Event::result carries the byte count (or -errno) for that case, and a
// Connection's I/O is split into "fill the ring" and "bytes arrived" steps so it maps onto either.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringwire {

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

struct Event {
  std::uint64_t token = 0;  // what the registration was given: a slot index and a generation
  std::uint32_t flags = 0;
  std::int32_t result = 0;  // completion backends: bytes transferred, or -errno
};

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
};

// The backends this build has, best first ("epoll", "io_uring", "kqueue").
std::vector<std::string> available_backends();
// A poller of the named backend, or the platform's best when `backend` is empty.
// Throws std::invalid_argument naming the choices when there is no such backend.
std::unique_ptr<Poller> make_poller(std::string_view backend = {});

}  // namespace ringwire
