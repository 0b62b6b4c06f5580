#pragma once
// Sweep: a connection-scaling profile (`ringwire-load sweep`). Runs run_load() once per
// connection count (each with its own warm-up; over child processes with --processes), then
// writes a table on stdout and DIR/sweep.json, DIR/sweep.csv and DIR/sweep.png (gnuplot). At each
// point it samples the kernel's TCP sockets (/proc/net/sockstat) half-way through the window,
// and, for the --server-pid processes, their RSS (half-way) and CPU time (over the window).
// Controlling thread only.

#include <sys/types.h>

#include <string>
#include <vector>

#include "options.h"

namespace ringwire::load {

struct SweepOptions {
  LoadOptions run;                       // every run option but --connections
  std::vector<std::size_t> connections;  // the points
  std::string out_dir;
  std::vector<pid_t> server_pids;  // the server processes sampled at each point (none: no samples)
};

// Returns the exit status: 0 when every point ran without errors, else 1.
int run_sweep(const SweepOptions& options);

}  // namespace ringwire::load
