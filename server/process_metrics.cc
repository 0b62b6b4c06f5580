#include "process_metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace ringwire {
namespace {

// /proc/self/stat's fields after the command name (which may hold spaces and parentheses): the
// first one returned is field 3, "state" (proc(5)).
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const std::size_t name_end = line.rfind(')');
  std::vector<std::string> fields;
  if (name_end == std::string::npos) return fields;
  std::istringstream rest(line.substr(name_end + 1));
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

// proc(5) field number `n` (1-based, as the manual counts) as a number.
std::optional<double> stat_field(const std::vector<std::string>& fields, std::size_t n) {
  if (n < 3 || n - 3 >= fields.size()) return std::nullopt;
  try {
    return std::stod(fields[n - 3]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The boot time in seconds since the epoch ("btime" in /proc/stat).
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double seconds = 0;
      if (in >> seconds) return seconds;
      return std::nullopt;
    }
    in.ignore(1 << 20, '\n');
  }
  return std::nullopt;
}

std::optional<double> open_descriptors() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory's own descriptor, open while it is read
}

void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::optional<double> value) {
  if (!value) return;
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name,
                 type, name, *value);
}

}  // namespace

void render_process_metrics(std::string& out) {
  const std::vector<std::string> fields = stat_fields();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::optional<double> cpu;
  if (const auto user = stat_field(fields, 14), system = stat_field(fields, 15); user && system) {
    cpu = (*user + *system) / ticks;
  }
  metric(out, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds", cpu);
  std::optional<double> rss;
  if (const auto pages = stat_field(fields, 24)) rss = *pages * page;
  metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes", rss);
  metric(out, "process_open_fds", "gauge", "Number of open file descriptors", open_descriptors());
  rlimit limit{};
  std::optional<double> max_fds;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) max_fds = static_cast<double>(limit.rlim_cur);
  metric(out, "process_max_fds", "gauge", "Maximum number of open file descriptors", max_fds);
  std::optional<double> start;
  if (const auto boot = boot_time(), since_boot = stat_field(fields, 22); boot && since_boot) {
    start = *boot + *since_boot / ticks;
  }
  metric(out, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds", start);
}

}  // namespace ringwire
