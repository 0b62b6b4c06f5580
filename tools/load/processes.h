#pragma once
// Processes: `--processes P` runs one measurement over P child processes (fork), each with its
// share of the connections, threads and rate, its own descriptor limit and its own ephemeral
// ports per source address, and merges their results exactly (merge_results: histograms added
// bucket by bucket, counts summed). Each child reports its result as JSON through a pipe, and
// before it, one byte as it reaches each stage: 'C' connected, 'S' window start, 'M' mid-window,
// 'E' window end. A child that has connected waits for the others (the parent closes its "go"
// pipe once every child has connected or ended), so all plan their warm-up and window from the
// same moment: their windows line up to within a wake-up.
// Controlling thread, before any other thread exists (fork).

#include <cstddef>

#include "load.h"

namespace ringwire::load {

// Child `index` of `processes`: its share of `options` (connections, threads, rate, connect rate;
// no live line and no output files).
LoadOptions process_share(const LoadOptions& options, std::size_t processes, std::size_t index);

// Runs `options` over `processes` children and returns the merged result, with each child's JSON
// kept in process_json. Throws StartError when a child could not start (its line), and
// std::runtime_error when a child died without a result.
// `hooks` run in the parent over the children's common window: window_start once every child's
// window has begun, mid_window once every child is half-way, window_end as the first one's ends
// (each child ended counts as there); connected once all have connected; on_live is not called.
LoadResult run_load_processes(const LoadOptions& options, std::size_t processes,
                              const RunHooks& hooks = {});

}  // namespace ringwire::load
