#pragma once
// LoadOptions: everything one ringwire-load run is told (DESIGN §2), plus the CLI11 wiring that
// fills it. Plain data, copied freely; no thread affinity.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringwire/frame.h"

namespace CLI {
class App;
}

namespace ringwire::load {

enum class ServiceKind : std::uint8_t { kEcho, kDiscard, kSized };
std::string_view to_string(ServiceKind kind);

struct LoadOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7000;
  std::size_t connections = 1;
  std::size_t threads = 1;
  std::size_t processes = 1;  // > 1: the run is shared among this many child processes
  std::uint32_t depth = 1;    // closed loop: frames in flight; open loop: the in-flight cap
  std::uint32_t size = 64;    // request payload bytes
  ServiceKind service = ServiceKind::kEcho;
  std::uint32_t reply_size = 64;  // sized: the reply payload bytes asked for
  double duration_s = 10;
  double warmup_s = 1;
  std::vector<std::string> command_line;  // argv as given, for the JSON (empty in-process)
  double rate = 0;                        // frames/s in total; 0 = closed loop
  double connect_rate = 0;                // new connections/s in total; 0 = as fast as possible
  std::vector<std::string> sources;       // local addresses to connect from, used round-robin
  std::string json_file;
  std::string hgrm_file;      // the latency distribution in HdrHistogram's .hgrm text
  std::string hist_log_file;  // HdrHistogram interval log: one compressed histogram a second
  bool verify = true;
  bool live = true;  // the live line every second on stderr
  std::uint32_t max_frame = kDefaultMaxFrame;
  // Churn (neper tcp_crr style): each connection slot connects, sends churn_frames frames, checks
  // the replies, closes (with RST when churn_rst) and connects again.
  bool churn = false;
  std::uint32_t churn_frames = 1;
  bool churn_rst = false;
  // A graceful close by the server (FIN, as a draining server does) is not an error: the
  // connection connects again and re-sends the frames it had not been answered.
  bool reconnect = false;

  bool open_loop() const { return rate > 0; }
  bool expects_replies() const { return service != ServiceKind::kDiscard; }
  // Bytes of one reply frame, header included (0 for discard).
  std::size_t reply_frame_size() const;
  std::size_t request_frame_size() const { return kFrameHeaderSize + size; }
};

// The most connections a run (or a point of a sweep) may ask for.
inline constexpr std::int64_t kMaxConnections = 10'000'000;

std::string tool_version();  // "0.1.0"
std::string tool_commit();   // "0123456789ab"

// A duration in seconds from "30s", "2m", "500ms", "1h", "250us" or a plain number of seconds;
// nullopt for anything else (negative, no number, an unknown unit).
std::optional<double> parse_duration(std::string_view text);

// Exit statuses of ringwire-load, one style for every subcommand (listed in --help).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRunErrors = 1;     // the run (or merge) counted errors; or it failed
inline constexpr int kExitUsage = 2;         // a bad flag or value, or a preflight refusal
inline constexpr int kExitNoConnection = 3;  // not one connection could be established

// Adds the run options (every flag but the sweep's) to `app`, bound to `options`.
void add_run_options(CLI::App& app, LoadOptions& options);
// Checks the combination; throws std::invalid_argument with one line naming the problem.
void validate(const LoadOptions& options);

}  // namespace ringwire::load
