// The one place that knows which poller backends this build has, best first.

#include "ringwire/poller.h"

#include <stdexcept>
#include <string>

#if RINGWIRE_HAVE_EPOLL
#include "poller/epoll_poller.h"
#endif
#if RINGWIRE_HAVE_URING
#include "poller/uring_poller.h"
#endif
#if RINGWIRE_HAVE_KQUEUE
#include "poller/kqueue_poller.h"
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
  std::vector<std::string> names;
#if RINGWIRE_HAVE_EPOLL
  names.emplace_back("epoll");
#endif
#if RINGWIRE_HAVE_URING
  if (UringPoller::supported()) names.emplace_back("io_uring");
#endif
#if RINGWIRE_HAVE_KQUEUE
  names.emplace_back("kqueue");  // on Linux: the test double (it names itself so)
#endif
  return names;
}

std::unique_ptr<Poller> make_poller(std::string_view backend) {
  // Empty: the platform's best, the first of these that the build has.
#if RINGWIRE_HAVE_EPOLL
  if (backend.empty() || backend == "epoll") return std::make_unique<EpollPoller>();
#endif
#if RINGWIRE_HAVE_URING
  if (backend == "io_uring") return std::make_unique<UringPoller>();
#endif
#if RINGWIRE_HAVE_KQUEUE
  if (backend.empty() || backend == "kqueue") return std::make_unique<KqueuePoller>();
#endif
  std::string choices;
  for (const auto& name : available_backends()) choices += (choices.empty() ? "" : ", ") + name;
  throw std::invalid_argument("no such backend '" + std::string(backend) +
                              "' in this build (available: " + choices + ")");
}

}  // namespace ringwire
