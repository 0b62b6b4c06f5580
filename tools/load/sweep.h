#pragma once
// Sweep: a connection-scaling profile (`ringwire-load sweep`). Runs run_load() once per
// connection count (each with its own warm-up), then writes a table on stdout and
// DIR/sweep.json, DIR/sweep.csv and DIR/sweep.png (gnuplot). Controlling thread only.

#include <sys/types.h>

#include <string>
#include <vector>

#include "options.h"

namespace ringwire::load {

struct SweepOptions {
  LoadOptions run;                       // every run option but --connections
  std::vector<std::size_t> connections;  // the points
  std::string out_dir;
  pid_t server_pid = 0;  // sample this process's RSS per point (0: none)
};

// Returns the exit status: 0 when every point ran.
int run_sweep(const SweepOptions& options);

// The resident set of `pid` in bytes (VmRSS in /proc/PID/status), or 0 when unreadable.
std::uint64_t process_rss_bytes(pid_t pid);

}  // namespace ringwire::load
