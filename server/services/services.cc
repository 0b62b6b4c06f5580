#include "services/services.h"

#include <stdexcept>

#include "services/discard_service.h"
#include "services/echo_service.h"
#include "services/sized_service.h"

namespace ringwire {

std::vector<std::string> service_names() { return {"echo", "discard", "sized"}; }

ServiceFactory service_factory(std::string_view name, std::uint32_t max_frame) {
  if (name == "echo") return [] { return std::make_unique<EchoService>(); };
  if (name == "discard") return [] { return std::make_unique<DiscardService>(); };
  if (name == "sized") return [max_frame] { return std::make_unique<SizedService>(max_frame); };
  throw std::invalid_argument("no such service '" + std::string(name) +
                              "' (choose echo, discard or sized)");
}

}  // namespace ringwire
