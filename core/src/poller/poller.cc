// The one place that knows which poller backends this build has, best first.

#include "ringwire/poller.h"

#include <stdexcept>
#include <string>

#include "poller/epoll_poller.h"
#if RINGWIRE_HAVE_URING
#include "poller/uring_poller.h"
#endif

namespace ringwire {

namespace {
[[noreturn]] void no_completions(std::string_view backend) {
  throw std::logic_error(std::string(backend) + " has no completion form");
}
}  // namespace

void Poller::recv_multishot(int, std::uint64_t, std::uint8_t) { no_completions(name()); }
void Poller::sendmsg(int, const msghdr&, int, std::uint64_t, std::uint8_t) {
  no_completions(name());
}
void Poller::accept_multishot(int, std::uint64_t, std::uint8_t) { no_completions(name()); }
void Poller::cancel(std::uint64_t, std::uint8_t) { no_completions(name()); }
void Poller::cancel_now(int) { no_completions(name()); }

std::vector<std::string> available_backends() {
  std::vector<std::string> names{"epoll"};
#if RINGWIRE_HAVE_URING
  if (UringPoller::supported()) names.emplace_back("io_uring");
#endif
  return names;
}

std::unique_ptr<Poller> make_poller(std::string_view backend) {
  if (backend.empty() || backend == "epoll") return std::make_unique<EpollPoller>();
#if RINGWIRE_HAVE_URING
  if (backend == "io_uring") return std::make_unique<UringPoller>();
#endif
  std::string choices;
  for (const auto& name : available_backends()) choices += (choices.empty() ? "" : ", ") + name;
  throw std::invalid_argument("no such backend '" + std::string(backend) +
                              "' in this build (available: " + choices + ")");
}

}  // namespace ringwire
