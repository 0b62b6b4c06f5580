// The one place that knows which engines exist.

#include "engines/engine.h"

#include <stdexcept>

namespace ringwire {

std::vector<std::string> engine_names() { return {"native", "uv"}; }

std::unique_ptr<Engine> make_engine(const ServerConfig& config) {
  if (config.engine == "native") return make_native_engine(config);
  if (config.engine == "uv") return make_uv_engine(config);
  throw std::invalid_argument("engine '" + config.engine + "' is not in this build");
}

}  // namespace ringwire
