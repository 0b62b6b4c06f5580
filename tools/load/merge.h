#pragma once
// Merge: `ringwire-load merge` (DESIGN §5) — many generators ran at the same time against one
// service, each wrote --json; this folds their results into one LoadResult and prints the same
// report as a run. Exact where the JSON allows it: histograms are decoded and merged (percentiles
// are never averaged); rates, bytes, frames, errors, connections and CPU are summed;
// client_saturated is OR-ed. HdrHistogram interval logs (--hist-log) are read too: their
// intervals' histograms merged into the latency. Per-connection frame counts are not in the JSON,
// so fairness is rebuilt from each run's summary (min, max, pooled cv exact; median: the median of
// the medians). Plain functions; any thread.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hist_log.h"
#include "load.h"

namespace ringwire::load {

struct MergeOptions {
  std::vector<std::string> files;  // --json results of ringwire-load runs
  std::string json_file;           // write the merged result here (optional)
};

// One run's result read back from its --json form; throws std::runtime_error naming what is
// missing or not a histogram.
LoadResult result_from_json(const nlohmann::json& j);
// The latency of an interval log (--hist-log) as a result: the intervals' histograms merged, the
// frames they counted over the time they span; no options, connections or CPU.
LoadResult result_from_hist_log(const std::vector<HistLogInterval>& intervals);
// Runs made side by side, folded into one. `runs` must not be empty.
LoadResult merge_results(const std::vector<LoadResult>& runs);
// Reads, merges and prints; writes --json when asked. Returns the exit status (3 when the merged
// run counted errors, as a run does). Throws std::runtime_error on an unreadable file.
int run_merge(const MergeOptions& options);

}  // namespace ringwire::load
