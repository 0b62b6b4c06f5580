#pragma once
// Processes: `--processes P` runs one measurement over P child processes (fork), each with its
// share of the connections, threads and rate, its own descriptor limit and its own ephemeral
// ports per source address, and merges their results exactly (merge_results: histograms added
// bucket by bucket, counts summed). Each child reports its result as JSON through a pipe; the
// children start together and run the same warm-up and window, give or take their connect times.
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
LoadResult run_load_processes(const LoadOptions& options, std::size_t processes);

}  // namespace ringwire::load
