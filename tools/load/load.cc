#include "load.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <latch>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include "hist_log.h"
#include "preflight.h"
#include "report.h"
#include "ringwire/net.h"
#include "worker.h"

namespace ringwire::load {

namespace {

using SteadyClock = std::chrono::steady_clock;

// How long connecting may take before the run starts without the stragglers: generous for a
// loaded loopback, plus the ramp itself when --connect-rate paces it.
constexpr auto kConnectGrace = std::chrono::seconds(10);
// Lead time between deciding the plan and its start, so every worker has it before it begins.
constexpr std::int64_t kStartLeadNs = 20'000'000;
// After the window ends, how long the workers get to report before the run gives up on them.
constexpr auto kFinishGrace = std::chrono::seconds(5);

std::int64_t to_ns(double seconds) { return static_cast<std::int64_t>(seconds * 1e9); }

Fairness fairness_of(const ThreadStats& totals, std::int64_t stall_gap) {
  Fairness f;
  std::vector<std::uint64_t> frames = totals.connection_frames;
  if (frames.empty()) return f;
  std::sort(frames.begin(), frames.end());
  f.min_frames = frames.front();
  f.median_frames = frames[frames.size() / 2];
  f.max_frames = frames.back();
  double mean = 0;
  for (auto n : frames) mean += static_cast<double>(n);
  mean /= static_cast<double>(frames.size());
  double variance = 0;
  for (auto n : frames)
    variance += (static_cast<double>(n) - mean) * (static_cast<double>(n) - mean);
  variance /= static_cast<double>(frames.size());
  f.cv = mean > 0 ? std::sqrt(variance) / mean : 0;
  for (std::size_t i = 0; i < totals.connection_frames.size(); ++i) {
    const std::int64_t gap = totals.connection_max_gap_ns[i];
    f.max_gap_ns = std::max(f.max_gap_ns, gap);
    if (gap > stall_gap || totals.connection_frames[i] == 0) ++f.stalled;
  }
  return f;
}

// Collects one live line: each worker copies its figures on its own thread.
// `logged` receives the interval's latencies for --hist-log, every thread's together.
LiveLine collect_live(std::vector<std::unique_ptr<Worker>>& workers,
                      std::vector<LiveSnapshot>& snapshots, std::uint64_t& last_frames,
                      double interval_s, Histogram& logged) {
  std::latch copied(static_cast<std::ptrdiff_t>(workers.size()));
  for (std::size_t i = 0; i < workers.size(); ++i) {
    workers[i]->loop().post([&, i] {
      workers[i]->snapshot_live(snapshots[i]);
      copied.count_down();
    });
  }
  copied.wait();
  Histogram merged;
  logged.reset();
  LiveLine line;
  std::uint64_t frames = 0;
  for (const auto& s : snapshots) {
    merged.merge(s.live);
    logged.merge(s.logged);
    frames += s.frames_total;
    line.errors += s.errors;
    line.connections += s.connections_open;
  }
  line.frames_per_s = static_cast<double>(frames - last_frames) / interval_s;
  last_frames = frames;
  line.p50_ns = merged.value_at_percentile(50);
  line.p99_ns = merged.value_at_percentile(99);
  return line;
}

}  // namespace

std::int64_t stall_gap_ns(const LoadOptions& options) {
  if (!options.open_loop()) return kStallGapNs;
  // At 100,000 connections and 30,000 frames/s each connection sends every 3.3 s: not a stall.
  const double interval_ns = static_cast<double>(options.connections) / options.rate * 1e9;
  return std::max(kStallGapNs, static_cast<std::int64_t>(2 * interval_ns));
}

double epoch_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

LoadResult run_load(const LoadOptions& requested, const RunHooks& hooks) {
  const double started_epoch_s = epoch_seconds();
  LoadOptions options = requested;
  options.threads = std::max<std::size_t>(1, std::min(options.threads, options.connections));
  try {
    validate(options);
  } catch (const std::invalid_argument& e) {
    throw StartError(e.what());
  }
  if (std::string why = preflight(options); !why.empty()) throw StartError(why);

  SocketAddress server;
  std::vector<SocketAddress> sources;
  try {
    server = resolve_address(options.host, options.port);
    for (const auto& source : options.sources) sources.push_back(resolve_address(source, 0));
  } catch (const std::exception& e) {
    throw StartError(e.what());
  }

  Coordinator coordinator;
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::size_t i = 0; i < options.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(options, i, server, sources, coordinator));
  }
  std::vector<std::thread> threads;
  for (auto& worker : workers) threads.emplace_back([&w = *worker] { w.loop().run(); });
  auto stop_and_join = [&] {
    for (auto& worker : workers) worker->loop().post([&w = *worker] { w.shut_down(); });
    for (auto& thread : threads) thread.join();
  };

  // Connect.
  for (auto& worker : workers) worker->loop().post([&w = *worker] { w.begin_connect(); });
  auto connect_deadline = SteadyClock::now() + kConnectGrace;
  if (options.connect_rate > 0) {
    connect_deadline +=
        std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(
            static_cast<double>(options.connections) / options.connect_rate));
  }
  coordinator.wait_connected(workers.size(), connect_deadline);
  const std::int64_t given_start = hooks.connected ? hooks.connected() : 0;

  // Warm up and measure.
  // With no connection at all there is nothing to measure: end at once instead of idling.
  const bool nothing_to_run = coordinator.established() == 0;
  RunPlan plan;
  plan.start_ns = given_start != 0 ? given_start : now_ns() + kStartLeadNs;
  plan.measure_start_ns = plan.start_ns + (nothing_to_run ? 0 : to_ns(options.warmup_s));
  plan.measure_end_ns = plan.measure_start_ns + (nothing_to_run ? 0 : to_ns(options.duration_s));
  for (auto& worker : workers) worker->loop().post([&w = *worker, plan] { w.begin_run(plan); });

  std::vector<LiveSnapshot> snapshots(workers.size());
  std::uint64_t last_frames = 0;
  std::vector<LiveLine> series;
  Histogram interval;
  std::optional<HistLogWriter> hist_log;
  const double start_epoch_s =
      epoch_seconds() + static_cast<double>(plan.start_ns - now_ns()) / 1e9;
  if (!options.hist_log_file.empty()) {
    try {
      hist_log.emplace(options.hist_log_file, start_epoch_s);
    } catch (const std::exception& e) {
      stop_and_join();
      throw StartError(e.what());
    }
  }
  // One interval of the log: the window's latencies since the previous tick (recorded as the
  // report's are, so the log's intervals add up to the report's histogram), for each tick after
  // the window began.
  auto log_interval = [&](SteadyClock::time_point from, SteadyClock::time_point to) {
    const auto to_ns_since_start = [&](SteadyClock::time_point t) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    };
    if (!hist_log || to_ns_since_start(to) <= plan.measure_start_ns) return;
    const std::int64_t from_ns = std::max(to_ns_since_start(from), plan.measure_start_ns);
    hist_log->write_interval(static_cast<double>(from_ns - plan.start_ns) / 1e9,
                             static_cast<double>(to_ns_since_start(to) - from_ns) / 1e9, interval);
  };
  const auto start = SteadyClock::time_point(std::chrono::nanoseconds(plan.start_ns));
  const auto at_ns = [](std::int64_t ns) {
    return SteadyClock::time_point(std::chrono::nanoseconds(ns));
  };
  // The window's hooks in time order; each fires once, on the first wake at or after its time.
  std::vector<std::pair<SteadyClock::time_point, const std::function<void()>*>> events;
  const std::pair<std::int64_t, const std::function<void()>*> hook_times[] = {
      {plan.measure_start_ns, &hooks.window_start},
      {(plan.measure_start_ns + plan.measure_end_ns) / 2, &hooks.mid_window},
      {plan.measure_end_ns, &hooks.window_end}};
  for (const auto& [ns, hook] : hook_times) {
    if (*hook) events.emplace_back(at_ns(ns), hook);
  }
  std::size_t fired = 0;
  auto fire_due = [&](SteadyClock::time_point now) {
    for (; fired < events.size() && events[fired].first <= now; ++fired) (*events[fired].second)();
  };
  auto next_tick = start + std::chrono::seconds(1);
  auto last_tick = start;
  while (!coordinator.wait_finished(workers.size(), fired < events.size()
                                                        ? std::min(next_tick, events[fired].first)
                                                        : next_tick)) {
    const auto now = SteadyClock::now();
    fire_due(now);
    if (now < next_tick) continue;
    const double seconds = std::chrono::duration<double>(now - last_tick).count();
    LiveLine line = collect_live(workers, snapshots, last_frames, seconds, interval);
    log_interval(last_tick, now);
    line.elapsed_s = std::chrono::duration<double>(now - start).count();
    line.warmup = now_ns() < plan.measure_start_ns;
    series.push_back(line);
    if (hooks.on_live) {
      hooks.on_live(line);
    } else if (options.live) {
      fmt::print(stderr, "{}\n", format_live_line(line));
    }
    last_tick = now;
    next_tick += std::chrono::seconds(1);
    if (now >
        SteadyClock::time_point(std::chrono::nanoseconds(plan.measure_end_ns)) + kFinishGrace) {
      break;  // a worker never reported: give up on it rather than hang
    }
  }
  fire_due(SteadyClock::time_point::max());  // the workers finished before a wake: fire the rest
  if (hist_log) {
    // The last part-second: the workers have finished, their loops still answer.
    const auto now = SteadyClock::now();
    collect_live(workers, snapshots, last_frames,
                 std::max(1e-9, std::chrono::duration<double>(now - last_tick).count()), interval);
    log_interval(
        last_tick,
        std::min(now, SteadyClock::time_point(std::chrono::nanoseconds(plan.measure_end_ns))));
  }
  stop_and_join();

  LoadResult result;
  result.started_epoch_s = started_epoch_s;
  result.ended_epoch_s = epoch_seconds();
  result.series = std::move(series);
  result.options = options;
  result.server = server.to_string();
  result.window_s = static_cast<double>(plan.measure_end_ns - plan.measure_start_ns) / 1e9;
  const double window = std::max(result.window_s, 1e-9);  // no division by zero when nothing ran
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const ThreadStats& s = workers[i]->stats();
    result.totals.merge(s);
    const double cpu = s.cpu_user_s + s.cpu_system_s;
    result.thread_cpu_fraction.push_back(cpu / window);
    result.cpu_s += cpu;
    const std::uint64_t established = s.connections_established;
    result.thread_connections.push_back(established);
    result.connections_established += established;
  }
  const ThreadStats& t = result.totals;
  const std::uint64_t frames = options.expects_replies() ? t.frames_completed : t.frames_sent;
  result.frames_per_s = static_cast<double>(frames) / window;
  result.connections_per_s = static_cast<double>(t.churn_cycles) / window;
  result.bytes_per_s = static_cast<double>(t.bytes_sent + t.bytes_received) / window;
  result.cpu_ns_per_frame = frames > 0 ? result.cpu_s * 1e9 / static_cast<double>(frames) : 0;
  result.fairness = fairness_of(t, stall_gap_ns(options));

  for (std::size_t i = 0; i < result.thread_cpu_fraction.size(); ++i) {
    if (result.thread_cpu_fraction[i] > kSaturatedCpuFraction) {
      result.client_saturated = true;
      result.warnings.push_back(fmt::format(
          "client thread {} was busy {:.0f}% of the window (limit {:.0f}%): the generator may be "
          "the bottleneck; add --threads or cores",
          i, result.thread_cpu_fraction[i] * 100, kSaturatedCpuFraction * 100));
    }
  }
  if (options.open_loop() && t.schedule_lag.count() > 0 &&
      t.schedule_lag.value_at_percentile(99) > kScheduleLagLimitNs) {
    result.client_saturated = true;
    result.warnings.push_back(fmt::format(
        "the send schedule fell behind: p99 issue lag {:.3f} ms exceeds {:.3f} ms; the generator "
        "could not keep --rate {}",
        static_cast<double>(t.schedule_lag.value_at_percentile(99)) / 1e6,
        static_cast<double>(kScheduleLagLimitNs) / 1e6, options.rate));
  }
  if (result.connections_established < options.connections) {
    result.warnings.push_back(fmt::format("only {} of {} connections were established",
                                          result.connections_established, options.connections));
  }
  if (result.fairness.stalled > 0) {
    result.warnings.push_back(
        fmt::format("{} connections stalled (no reply for over {:.1f} s, or none at all)",
                    result.fairness.stalled, static_cast<double>(stall_gap_ns(options)) / 1e9));
  }
  return result;
}

}  // namespace ringwire::load
