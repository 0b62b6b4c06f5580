// The one place that knows which poller backends this build has, best first.

#include "ringwire/poller.h"

#include <stdexcept>

#include "poller/epoll_poller.h"

namespace ringwire {

std::vector<std::string> available_backends() { return {"epoll"}; }

std::unique_ptr<Poller> make_poller(std::string_view backend) {
  if (backend.empty() || backend == "epoll") return std::make_unique<EpollPoller>();
  std::string choices;
  for (const auto& name : available_backends()) choices += (choices.empty() ? "" : ", ") + name;
  throw std::invalid_argument("no such backend '" + std::string(backend) +
                              "' in this build (available: " + choices + ")");
}

}  // namespace ringwire
