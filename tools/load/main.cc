// ringwire-load: the load generator (DESIGN §2). Parses the command line, then runs one
// measurement (run_load), a sweep (run_sweep) or merges saved runs (run_merge), and prints the
// report. Exit statuses: see kExit* in options.h (and the --help footer).

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>

#include "find_max.h"
#include "flag_bounds.h"
#include "hgrm.h"
#include "json_report.h"
#include "load.h"
#include "merge.h"
#include "processes.h"
#include "report.h"
#include "ringwire/version.h"
#include "sweep.h"

int main(int argc, char** argv) {
  using namespace ringwire::load;
  CLI::App app{
      "ringwire-load: drives a server that speaks the ringwire framing (4-byte big-endian length, "
      "payload) and reports throughput, latency percentiles and errors. Closed loop by default "
      "(--depth frames in flight per connection); open loop with --rate."};
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  app.set_version_flag("--version", ringwire::version_line("ringwire-load"));
  app.footer(
      "Exit status: 0 ok; 1 the run counted errors (or failed); 2 usage: a bad flag or value, or a "
      "preflight refusal; 3 not one connection could be established.");
  LoadOptions options;
  options.command_line.assign(argv, argv + argc);
  add_run_options(app, options);

  SweepOptions sweep;
  CLI::App* sweep_cmd = app.add_subcommand(
      "sweep",
      "Connection-scaling profile: one measured run per --connections point (each after its "
      "warm-up; over --processes children when given), then a table, DIR/sweep.json, "
      "DIR/sweep.csv and DIR/sweep.png. Each point also reports the kernel's TCP sockets and "
      "their memory (/proc/net/sockstat, half-way through the window)");
  // The same run options, bound to the same struct, so they may come before or after "sweep".
  add_run_options(*sweep_cmd, options);
  sweep_cmd->remove_option(sweep_cmd->get_option("--connections"));
  sweep_cmd->remove_option(sweep_cmd->get_option("--json"));
  sweep_cmd->remove_option(sweep_cmd->get_option("--hgrm"));
  sweep_cmd->remove_option(sweep_cmd->get_option("--hist-log"));
  sweep_cmd->add_option("--connections,-c", sweep.connections, "Connection counts, e.g. 1,10,100")
      ->delimiter(',')
      ->transform(ringwire::cli::integer_from(1, kMaxConnections))
      ->required();
  sweep_cmd->add_option("--out", sweep.out_dir, "Directory for sweep.json, sweep.csv, sweep.png")
      ->required();
  sweep_cmd
      ->add_option(
          "--server-pid", sweep.server_pids,
          "A server process to sample at each point (repeat, or PID,PID, for several processes on "
          "one port): their RSS half-way through the window (bytes per connection) and "
          "their CPU time over it (ns per frame, from /proc/PID/stat)")
      ->delimiter(',')
      ->transform(ringwire::cli::integer_from(1, 4'194'304));  // PID_MAX_LIMIT

  FindMaxOptions find;
  std::string slo_text = "p99=1ms";
  CLI::App* find_cmd = app.add_subcommand(
      "find-max",
      "The highest open-loop rate meeting a latency objective: doubles the rate from --rate "
      "(default 1000/s) until a step misses, then bisects; each step a whole run with its warm-up. "
      "Prints the curve; writes DIR/find-max.json, .csv and .png");
  add_run_options(*find_cmd, options);
  find_cmd->remove_option(find_cmd->get_option("--json"));
  find_cmd->remove_option(find_cmd->get_option("--hgrm"));
  find_cmd->remove_option(find_cmd->get_option("--hist-log"));
  find_cmd->add_option("--slo", slo_text, "The objective: pPERCENTILE=DURATION")
      ->capture_default_str();
  find_cmd->add_option("--max-rate", find.max_rate, "Stop the ramp here (frames/s)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  find_cmd
      ->add_option("--precision", find.precision,
                   "Bisect until the bracket is within this fraction of the rate")
      ->check(CLI::Range(0.001, 1.0))
      ->capture_default_str();
  find_cmd->add_option("--out", find.out_dir, "Directory for find-max.json, .csv, .png")
      ->capture_default_str();

  MergeOptions merge;
  CLI::App* merge_cmd = app.add_subcommand(
      "merge",
      "Merge the --json results of runs made side by side (many generators, many hosts) into one "
      "report: histograms merged exactly, rates and counts summed. HdrHistogram interval logs "
      "(--hist-log) are read too: their intervals merged into the latency");
  merge_cmd
      ->add_option("files", merge.files,
                   "FILE.json written by ringwire-load --json, or an interval log (--hist-log)")
      ->required()
      ->check(CLI::ExistingFile);
  merge_cmd->add_option("--json", merge.json_file, "Write the merged result here");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version: printed on stdout
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, the program's name first, and one exit status for every usage error (CLI11's own
    // codes, 104-114, say which check failed, which no script should have to know).
    std::string line = e.what();
    std::replace(line.begin(), line.end(), '\n', ' ');
    fmt::print(stderr, "ringwire-load: {} (see --help)\n", line);
    return kExitUsage;
  }

  try {
    if (merge_cmd->parsed()) return run_merge(merge);
    if (find_cmd->parsed()) {
      try {
        find.slo = parse_slo(slo_text);
      } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "ringwire-load: {} (see --help)\n", e.what());
        return kExitUsage;
      }
      find.run = options;
      return run_find_max(find);
    }
    if (sweep_cmd->parsed()) {
      sweep.run = options;
      return run_sweep(sweep);
    }
    const LoadResult result =
        options.processes > 1 ? run_load_processes(options, options.processes) : run_load(options);
    if (result.connections_established == 0) {
      // Nothing was measured: a report of zeros would only hide the one thing worth saying.
      fmt::print(stderr, "ringwire-load: {}\n", format_no_connection(result));
      return kExitNoConnection;
    }
    // `--json -` or `--hgrm -` takes stdout, so the human report moves to stderr.
    std::FILE* report_out = options.json_file == kStdoutPath || options.hgrm_file == kStdoutPath ||
                                    options.hist_log_file == kStdoutPath
                                ? stderr
                                : stdout;
    fmt::print(report_out, "{}", format_report(result));
    std::fflush(report_out);
    if (!options.json_file.empty()) write_json_file(options.json_file, to_json(result));
    if (!options.hgrm_file.empty()) write_hgrm_file(options.hgrm_file, result.totals.latency);
    return result.totals.error_total() == 0 ? kExitOk : kExitRunErrors;
  } catch (const StartError& e) {
    fmt::print(stderr, "ringwire-load: {}\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ringwire-load: {}\n", e.what());
    return kExitRunErrors;
  }
}
