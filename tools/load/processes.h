#pragma once
// Processes: `--processes P` runs one measurement over P child processes (fork), each with its
// share of the connections, threads and rate, its own descriptor limit and its own ephemeral
// ports per source address, and merges their results exactly (merge_results: histograms added
// bucket by bucket, counts summed). Each child reports its result as JSON through a pipe, and
// before it one byte, 'C', once it has connected; then it waits. When every child has connected
// (or ended), the parent sends each one the same start time (CLOCK_MONOTONIC, on a socket pair),
// so all run the same warm-up and window, to the nanosecond, and the parent knows that window.
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
// `hooks` run in the parent: connected once every child has connected (its return value unused);
// window_start, mid_window and window_end at the children's common window's start, middle and
// end (on the parent's own clock, not the children's wake-ups); on_live is not called.
LoadResult run_load_processes(const LoadOptions& options, std::size_t processes,
                              const RunHooks& hooks = {});

}  // namespace ringwire::load
