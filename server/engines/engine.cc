// The one place that knows which engines exist.

#include "engines/engine.h"

#include <stdexcept>

namespace ringwire {

std::vector<std::string> engine_names() {
#ifdef RINGWIRE_HAVE_UV
  return {"native", "uv"};
#else
  return {"native"};
#endif
}

std::unique_ptr<Engine> make_engine(const ServerConfig& config) {
  if (config.engine == "native") return make_native_engine(config);
#ifdef RINGWIRE_HAVE_UV
  if (config.engine == "uv") return make_uv_engine(config);
#endif
  throw std::invalid_argument("engine '" + config.engine + "' is not in this build");
}

}  // namespace ringwire
