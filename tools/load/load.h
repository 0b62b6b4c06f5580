#pragma once
// run_load: one measured ringwire-load run, in-process. The controlling thread (the caller) starts
// one Worker thread per --threads, waits for the connections, runs warm-up and window, prints the
// live line, joins the workers and merges what they measured (exactly: histograms are merged,
// never averaged). main() wraps it; the tests and the sweep call it directly.

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "load_stats.h"
#include "options.h"

namespace ringwire::load {

// The run could not start (preflight, address); what() is the one line to print.
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thresholds of the "the generator was the bottleneck" warning.
// A thread busier than this share of one core had no slack left to send on time.
inline constexpr double kSaturatedCpuFraction = 0.90;
// Open loop: p99 of (issued - scheduled) above this means the schedule fell behind the clock.
inline constexpr std::uint64_t kScheduleLagLimitNs = 1'000'000;
// A connection with no reply for this long inside the window is reported as stalled (open loop:
// or for twice its own interval between frames, connections / rate, if that is longer).
inline constexpr std::int64_t kStallGapNs = 1'000'000'000;
std::int64_t stall_gap_ns(const LoadOptions& options);

struct LiveLine {
  double elapsed_s = 0;
  bool warmup = false;
  double frames_per_s = 0;
  std::uint64_t p50_ns = 0;
  std::uint64_t p99_ns = 0;
  std::uint64_t errors = 0;  // since the start of the run
  std::uint64_t connections = 0;
};

// Seconds since the epoch, now (wall clock).
double epoch_seconds();

struct Fairness {
  std::uint64_t min_frames = 0;
  std::uint64_t median_frames = 0;
  std::uint64_t max_frames = 0;
  double cv = 0;            // coefficient of variation of frames per connection
  std::size_t stalled = 0;  // connections with a gap > stall_gap_ns() (or none at all)
  std::int64_t max_gap_ns = 0;
};

struct LoadResult {
  LoadOptions options;  // as run (threads clamped to connections)
  std::string server;   // the resolved address
  double window_s = 0;
  ThreadStats totals;  // merged over threads (per-connection vectors concatenated)
  std::size_t connections_established = 0;
  double frames_per_s = 0;       // replies checked per second (discard: frames sent)
  double connections_per_s = 0;  // --churn: connections that completed their frames, per second
  double bytes_per_s = 0;        // bytes sent + received per second, headers included
  Fairness fairness;
  std::vector<double> thread_cpu_fraction;  // per thread, user + system over the window
  double cpu_s = 0;                         // all threads, user + system, inside the window
  double cpu_ns_per_frame = 0;
  bool client_saturated = false;
  std::vector<std::string> warnings;
  std::vector<std::uint64_t> thread_connections;  // connections established per thread
  // Wall-clock time (seconds since the epoch) when the run began and ended, for the JSON.
  double started_epoch_s = 0;
  double ended_epoch_s = 0;
  std::vector<LiveLine> series;           // the live line of every second, warm-up included
  std::vector<std::string> process_json;  // --processes: each child's result, as it wrote it
};

// Called on the controlling thread; each optional.
struct RunHooks {
  std::function<void(const LiveLine&)> on_live;  // each second; default: print on stderr
  // Once the connections are made (or given up on), before the run is planned; may block. Returns
  // when the run starts (now_ns(): CLOCK_MONOTONIC, one clock for every process of the machine),
  // or 0 to start 20 ms from now. --processes holds every child here until all have connected,
  // then gives them one start: their warm-ups and windows are the same nanoseconds.
  std::function<std::int64_t()> connected;
  std::function<void()> window_start;  // as the measured window begins
  std::function<void()> mid_window;    // once, half-way through the window
  std::function<void()> window_end;    // as the measured window ends
};

// Throws StartError when the run cannot start.
LoadResult run_load(const LoadOptions& options, const RunHooks& hooks = {});

}  // namespace ringwire::load
