#pragma once
// The readiness backends' wait timeout as the kernel takes it (epoll_pwait2, kevent): a timespec,
// or nullptr for "no limit" (negative timeout_ns).

#include <cstdint>
#include <ctime>

namespace ringwire {

inline const timespec* wait_timeout(std::int64_t timeout_ns, timespec& storage) {
  if (timeout_ns < 0) return nullptr;
  storage.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
  storage.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
  return &storage;
}

}  // namespace ringwire
