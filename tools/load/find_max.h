#pragma once
// FindMax: `ringwire-load find-max --slo p99=1ms [run options]` — the highest open-loop rate
// that meets a latency objective. Ramps the rate (doubling from --rate, default 1000/s) until a
// step misses, then bisects between the last step that met and the first that missed until they
// are within --precision. Each step is a whole run_load() (its own connections, warm-up and
// window). A step meets the objective when no error was counted, the replies per second are
// within 1% of the rate, and the latency percentile (from the scheduled send) is within the bound.
// When the step that bounds the answer saw the generator saturated (client_saturated), the answer
// is the generator's limit, not the server's, and the output says so.
// Writes DIR/find-max.json, .csv and .png. Controlling thread only.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "load.h"

namespace ringwire::load {

struct Slo {
  double percentile = 99;
  std::uint64_t bound_ns = 1'000'000;
  std::string text = "p99=1ms";
};
// "p99=1ms", "p99.9=500us", "p50=200us": throws std::invalid_argument with one line otherwise.
Slo parse_slo(const std::string& text);

struct FindMaxOptions {
  LoadOptions run;  // every run option; run.rate is the ramp's first rate (0: 1000/s)
  Slo slo;
  double max_rate = 10'000'000;  // the ramp stops here
  double precision = 0.05;       // bisect until the bracket is within this fraction
  std::string out_dir = ".";
};

struct FindMaxStep {
  double rate = 0;
  LoadResult result;
  bool met = false;
  std::string why;  // what missed, when it did
};

struct FindMaxResult {
  double max_rate = 0;             // the highest rate that met the objective (0: none did)
  double first_missed = 0;         // the lowest rate that missed (0: none did, up to max_rate)
  bool client_saturated = false;   // the step at first_missed saw the generator saturated
  std::vector<FindMaxStep> steps;  // in the order run
};

// Runs the search; `on_step` hears each step as it ends. Throws StartError when a step cannot
// start.
FindMaxResult find_max(const FindMaxOptions& options,
                       const std::function<void(const FindMaxStep&)>& on_step = {});

// The subcommand: runs find_max, prints progress and the curve, writes the files. Returns the exit
// status (0 when some rate met the objective, 1 otherwise).
int run_find_max(const FindMaxOptions& options);

}  // namespace ringwire::load
