#pragma once
// The built-in services by name: what --service chooses from.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringwire/service.h"

namespace ringwire {

std::vector<std::string> service_names();  // "echo", "discard", "sized"
// A factory for the named service; throws std::invalid_argument for an unknown name.
ServiceFactory service_factory(std::string_view name, std::uint32_t max_frame);

}  // namespace ringwire
