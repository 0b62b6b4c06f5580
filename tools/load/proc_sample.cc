#include "proc_sample.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace ringwire::load {

std::uint64_t process_rss_bytes(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

std::optional<double> process_cpu_seconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  // "PID (comm) state ppid ...": comm may hold spaces and parentheses, so count from the last ')'.
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  // Fields 3 (state) to 13 come before utime (14) and stime (15).
  for (int i = 3; i <= 13; ++i) fields >> field;
  if (!(fields >> utime >> stime)) return std::nullopt;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

std::optional<TcpSockstat> parse_tcp_sockstat(const char* text, std::uint64_t page_size) {
  // "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1"
  const char* line = std::strstr(text, "\nTCP:");
  if (line == nullptr) return std::nullopt;
  std::istringstream fields(std::string(line + 5, std::strcspn(line + 5, "\n")));
  TcpSockstat s;
  std::string name;
  std::uint64_t value = 0;
  while (fields >> name >> value) {
    if (name == "inuse") s.inuse = value;
    if (name == "orphan") s.orphan = value;
    if (name == "tw") s.tw = value;
    if (name == "alloc") s.alloc = value;
    if (name == "mem") s.mem_bytes = value * page_size;
  }
  return s;
}

std::optional<TcpSockstat> read_tcp_sockstat() {
  std::ifstream in("/proc/net/sockstat");
  if (!in.is_open()) return std::nullopt;
  std::stringstream text;
  text << "\n" << in.rdbuf();  // the TCP line is found by its leading newline, the first one too
  const long page = ::sysconf(_SC_PAGESIZE);
  return parse_tcp_sockstat(text.str().c_str(), static_cast<std::uint64_t>(page > 0 ? page : 4096));
}

}  // namespace ringwire::load
