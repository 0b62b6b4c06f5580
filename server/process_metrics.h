#pragma once
// The standard process_* metrics of a Prometheus scrape (the names every client library uses),
// read from /proc/self at each scrape: CPU seconds, resident memory, open and maximum descriptors,
// start time. Stateless; any thread. A value that cannot be read is left out of the exposition.

#include <string>

namespace ringwire {

// Appends the process_* metrics (HELP, TYPE and value each) to `out`.
void render_process_metrics(std::string& out);

}  // namespace ringwire
