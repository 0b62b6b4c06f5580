#pragma once
// What /proc says about the server side of a run, sampled by the sweep at each point: a process's
// resident set and CPU time, and the kernel's TCP socket counts and memory (/proc/net/sockstat:
// the counts are this network namespace's, the memory the whole machine's; on loopback both ends
// of each connection count). Plain functions; any thread.

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace ringwire::load {

// The resident set of `pid` in bytes (VmRSS in /proc/PID/status), or 0 when unreadable.
std::uint64_t process_rss_bytes(pid_t pid);

// User + system CPU seconds `pid` has used, all its threads (utime + stime in /proc/PID/stat, in
// clock ticks: 10 ms steps), or nullopt when unreadable (the process is gone).
std::optional<double> process_cpu_seconds(pid_t pid);

// The TCP line of /proc/net/sockstat: sockets in use, orphaned (closed, still sending), in
// TIME_WAIT, allocated, and the pages their buffers hold (as bytes).
struct TcpSockstat {
  std::uint64_t inuse = 0;
  std::uint64_t orphan = 0;
  std::uint64_t tw = 0;
  std::uint64_t alloc = 0;
  std::uint64_t mem_bytes = 0;
};
// From the text of /proc/net/sockstat; nullopt when it has no TCP line.
std::optional<TcpSockstat> parse_tcp_sockstat(const char* text, std::uint64_t page_size);
// Read now; nullopt when /proc/net/sockstat cannot be read.
std::optional<TcpSockstat> read_tcp_sockstat();

}  // namespace ringwire::load
