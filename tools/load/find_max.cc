#include "find_max.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "json_report.h"
#include "plot.h"
#include "processes.h"
#include "report.h"

namespace ringwire::load {

namespace {

constexpr double kDefaultStartRate = 1000;
constexpr double kRateTolerance = 0.01;  // a step must achieve 99% of its rate

// The steps in rate order: the curve.
std::vector<const FindMaxStep*> by_rate(const FindMaxResult& result) {
  std::vector<const FindMaxStep*> curve;
  for (const auto& step : result.steps) curve.push_back(&step);
  std::sort(curve.begin(), curve.end(),
            [](const FindMaxStep* a, const FindMaxStep* b) { return a->rate < b->rate; });
  return curve;
}

FindMaxStep run_step(const FindMaxOptions& options, double rate) {
  FindMaxStep step;
  step.rate = rate;
  LoadOptions run = options.run;
  run.rate = rate;
  run.live = false;
  step.result = run.processes > 1 ? run_load_processes(run, run.processes) : run_load(run);
  const LoadResult& r = step.result;
  const std::uint64_t latency = r.totals.latency.value_at_percentile(options.slo.percentile);
  if (r.connections_established == 0) {
    step.why = "no connection";
  } else if (r.totals.error_total() != 0) {
    step.why = fmt::format("{} errors", r.totals.error_total());
  } else if (r.frames_per_s < rate * (1 - kRateTolerance)) {
    step.why = fmt::format("achieved {:.0f}/s", r.frames_per_s);
  } else if (latency > options.slo.bound_ns) {
    step.why = fmt::format("p{:g} {}", options.slo.percentile, format_latency(latency));
  } else {
    step.met = true;
  }
  return step;
}

void write_outputs(const FindMaxOptions& options, const FindMaxResult& result) {
  const std::string& dir = options.out_dir;
  std::filesystem::create_directories(dir);
  const std::vector<const FindMaxStep*> curve = by_rate(result);

  const std::string pname = fmt::format("p{:g}", options.slo.percentile);
  std::ofstream csv(dir + "/find-max.csv");
  csv << "rate,achieved,p50_us,slo_" << pname << "_us,p99_us,errors,met,client_saturated\n";
  nlohmann::json steps = nlohmann::json::array();
  for (const FindMaxStep* s : curve) {
    const Histogram& h = s->result.totals.latency;
    csv << fmt::format("{:.0f},{:.1f},{:.3f},{:.3f},{:.3f},{},{},{}\n", s->rate,
                       s->result.frames_per_s, static_cast<double>(h.value_at_percentile(50)) / 1e3,
                       static_cast<double>(h.value_at_percentile(options.slo.percentile)) / 1e3,
                       static_cast<double>(h.value_at_percentile(99)) / 1e3,
                       s->result.totals.error_total(), s->met ? 1 : 0,
                       s->result.client_saturated ? 1 : 0);
    nlohmann::json j = to_json(s->result);
    j["offered_rate"] = s->rate;
    j["met"] = s->met;
    if (!s->met) j["missed"] = s->why;
    steps.push_back(std::move(j));
  }
  csv.close();
  nlohmann::json j = json_header();
  j.update({{"command_line", options.run.command_line},
            {"slo",
             {{"text", options.slo.text},
              {"percentile", options.slo.percentile},
              {"bound_us", static_cast<double>(options.slo.bound_ns) / 1e3}}},
            {"max_rate", result.max_rate},
            {"first_missed_rate", result.first_missed},
            {"client_saturated", result.client_saturated},
            {"steps", std::move(steps)},
            {"machine", machine_json()}});
  write_json_file(dir + "/find-max.json", j);

  const std::string title = plot_title(
      "find-max " + options.slo.text, options.run, std::to_string(options.run.connections),
      fmt::format("max {:.0f}/s{}", result.max_rate,
                  result.client_saturated ? " (generator-limited)" : ""));
  const std::string gp = fmt::format(
      "set title '{0}'\nset datafile separator ','\nset key top left\nset grid\n"
      "set xlabel 'offered rate (frames/s)'\nset ylabel '{1} latency (us)'\n"
      "set y2label 'achieved (frames/s)'\nset ytics nomirror\nset y2tics\n"
      "set xrange [0:*]\nset yrange [0:*]\nset y2range [0:*]\n"
      "plot '{2}/find-max.csv' using 1:4 with linespoints title '{1} (us)', "
      "{3} with lines dashtype 2 title 'objective {4}', "
      "'' using 1:2 axes x1y2 with linespoints title 'achieved frames/s'\n",
      title, pname, dir, static_cast<double>(options.slo.bound_ns) / 1e3, options.slo.text);
  draw_png(dir, "find-max", gp);
}

}  // namespace

Slo parse_slo(const std::string& text) {
  Slo slo;
  slo.text = text;
  const auto equals = text.find('=');
  auto fail = [&] {
    throw std::invalid_argument(
        fmt::format("--slo '{}': expected pPERCENTILE=DURATION, e.g. p99=1ms", text));
  };
  if (text.empty() || text[0] != 'p' || equals == std::string::npos) fail();
  char* end = nullptr;
  const std::string number = text.substr(1, equals - 1);
  slo.percentile = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || slo.percentile <= 0 || slo.percentile > 100) fail();
  const std::optional<double> bound = parse_duration(text.substr(equals + 1));
  if (!bound || *bound <= 0) fail();
  slo.bound_ns = static_cast<std::uint64_t>(*bound * 1e9);
  return slo;
}

FindMaxResult find_max(const FindMaxOptions& options,
                       const std::function<void(const FindMaxStep&)>& on_step) {
  FindMaxResult result;
  auto step = [&](double rate) {
    result.steps.push_back(run_step(options, rate));
    if (on_step) on_step(result.steps.back());
    return result.steps.back().met;
  };
  auto missed_at = [&](double rate) {
    result.first_missed = rate;
    result.client_saturated = result.steps.back().result.client_saturated;
  };
  // Ramp: double until a step misses.
  double rate = options.run.rate > 0 ? options.run.rate : kDefaultStartRate;
  for (; rate <= options.max_rate; rate *= 2) {
    if (!step(rate)) {
      missed_at(rate);
      break;
    }
    result.max_rate = rate;
  }
  if (result.first_missed == 0) return result;  // met all the way to --max-rate
  // Bisect [met, missed] (from 0 when the first step missed).
  double low = result.max_rate;
  double high = result.first_missed;
  // With nothing met yet, halving goes on down to a sixteenth of the first rate, then gives up.
  const double floor = (options.run.rate > 0 ? options.run.rate : kDefaultStartRate) / 16;
  while (high - low > options.precision * std::max(low, high / 2) && (low > 0 || high >= floor)) {
    const double mid = (low + high) / 2;
    if (step(mid)) {
      low = result.max_rate = mid;
    } else {
      high = mid;
      missed_at(mid);
    }
  }
  return result;
}

int run_find_max(const FindMaxOptions& options) {
  const std::string pname = fmt::format("p{:g}", options.slo.percentile);
  fmt::print(stderr, "ringwire-load find-max: objective {}; each step {} s after {} s warm-up\n",
             options.slo.text, options.run.duration_s, options.run.warmup_s);
  const FindMaxResult result = find_max(options, [&](const FindMaxStep& s) {
    fmt::print(stderr, "  {:>10.0f}/s: achieved {:>10.0f}/s, {} {}, errors {}{}: {}\n", s.rate,
               s.result.frames_per_s, pname,
               format_latency(s.result.totals.latency.value_at_percentile(options.slo.percentile)),
               s.result.totals.error_total(), s.result.client_saturated ? ", client saturated" : "",
               s.met ? "met" : "missed (" + s.why + ")");
  });
  const std::vector<const FindMaxStep*> curve = by_rate(result);
  fmt::print("{:>12} {:>12} {:>9} {:>9} {:>9} {:>7} {:>6} {:>9}\n", "rate/s", "achieved/s", "p50",
             "slo " + pname, "p99", "errors", "met", "client");
  for (const FindMaxStep* s : curve) {
    const Histogram& h = s->result.totals.latency;
    fmt::print("{:>12.0f} {:>12.0f} {:>9} {:>9} {:>9} {:>7} {:>6} {:>9}\n", s->rate,
               s->result.frames_per_s, format_latency(h.value_at_percentile(50)),
               format_latency(h.value_at_percentile(options.slo.percentile)),
               format_latency(h.value_at_percentile(99)), s->result.totals.error_total(),
               s->met ? "yes" : "no", s->result.client_saturated ? "SATURATED" : "ok");
  }
  if (result.max_rate > 0) {
    fmt::print("max rate meeting {}: {:.0f}/s", options.slo.text, result.max_rate);
    if (result.first_missed > 0) fmt::print(" (missed at {:.0f}/s)", result.first_missed);
    fmt::print("\n");
  } else {
    fmt::print("no rate met {} (the first step, {:.0f}/s, missed)\n", options.slo.text,
               result.first_missed);
  }
  if (result.client_saturated) {
    fmt::print(
        "client_saturated: the generator, not the server, was the limit at {:.0f}/s: add "
        "--threads, cores or generators\n",
        result.first_missed);
  }
  write_outputs(options, result);
  fmt::print("wrote {0}/find-max.json {0}/find-max.csv {0}/find-max.png\n", options.out_dir);
  return result.max_rate > 0 ? kExitOk : kExitRunErrors;
}

}  // namespace ringwire::load
