// ringwire-load: the load generator (DESIGN §2). Parses the command line, then runs one
// measurement (run_load), a sweep (run_sweep) or merges saved runs (run_merge), and prints the
// report.

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "json_report.h"
#include "load.h"
#include "merge.h"
#include "report.h"
#include "sweep.h"

int main(int argc, char** argv) {
  using namespace ringwire::load;
  CLI::App app{
      "ringwire-load: drives a server that speaks the ringwire framing (4-byte big-endian length, "
      "payload) and reports throughput, latency percentiles and errors. Closed loop by default "
      "(--depth frames in flight per connection); open loop with --rate."};
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  app.set_version_flag("--version", version_line());
  LoadOptions options;
  add_run_options(app, options);

  SweepOptions sweep;
  CLI::App* sweep_cmd = app.add_subcommand(
      "sweep",
      "Connection-scaling profile: one measured run per --connections point (each after its "
      "warm-up), then a table, DIR/sweep.json, DIR/sweep.csv and DIR/sweep.png");
  // The same run options, bound to the same struct, so they may come before or after "sweep".
  add_run_options(*sweep_cmd, options);
  sweep_cmd->remove_option(sweep_cmd->get_option("--connections"));
  sweep_cmd->remove_option(sweep_cmd->get_option("--json"));
  sweep_cmd->add_option("--connections,-c", sweep.connections, "Connection counts, e.g. 1,10,100")
      ->delimiter(',')
      ->required();
  sweep_cmd->add_option("--out", sweep.out_dir, "Directory for sweep.json, sweep.csv, sweep.png")
      ->required();
  sweep_cmd->add_option("--server-pid", sweep.server_pid,
                        "Sample this server process's RSS at each point: bytes per connection");

  MergeOptions merge;
  CLI::App* merge_cmd = app.add_subcommand(
      "merge",
      "Merge the --json results of runs made side by side (many generators, many hosts) into one "
      "report: histograms merged exactly, rates and counts summed");
  merge_cmd->add_option("files", merge.files, "FILE.json written by ringwire-load --json")
      ->required()
      ->check(CLI::ExistingFile);
  merge_cmd->add_option("--json", merge.json_file, "Write the merged result here");
  CLI11_PARSE(app, argc, argv);

  try {
    if (merge_cmd->parsed()) return run_merge(merge);
    if (sweep_cmd->parsed()) {
      sweep.run = options;
      return run_sweep(sweep);
    }
    const LoadResult result = run_load(options);
    fmt::print("{}", format_report(result));
    std::fflush(stdout);
    if (!options.json_file.empty()) write_json_file(options.json_file, to_json(result));
    return result.totals.error_total() == 0 ? 0 : 3;
  } catch (const StartError& e) {
    fmt::print(stderr, "ringwire-load: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ringwire-load: {}\n", e.what());
    return 1;
  }
}
