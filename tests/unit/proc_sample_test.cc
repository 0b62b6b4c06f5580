// The sweep's /proc samples: the TCP line of /proc/net/sockstat, and a process's CPU time.

#include "proc_sample.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

namespace ringwire::load {
namespace {

TEST(ProcSample, ParsesTheTcpLineOfSockstatWithMemoryInBytes) {
  const char* text =
      "sockets: used 17\n"
      "TCP: inuse 6 orphan 1 tw 24 alloc 7 mem 181\n"
      "UDP: inuse 0 mem 3\n";
  const auto s = parse_tcp_sockstat(text, 4096);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->inuse, 6u);
  EXPECT_EQ(s->orphan, 1u);
  EXPECT_EQ(s->tw, 24u);
  EXPECT_EQ(s->alloc, 7u);
  EXPECT_EQ(s->mem_bytes, 181u * 4096);  // not UDP's mem
  EXPECT_FALSE(parse_tcp_sockstat("sockets: used 1\nUDP: inuse 0 mem 0\n", 4096).has_value());
}

TEST(ProcSample, ThisMachinesSockstatHasATcpLine) { EXPECT_TRUE(read_tcp_sockstat().has_value()); }

TEST(ProcSample, CpuSecondsGrowWithWorkAndAGoneProcessHasNone) {
  const auto before = process_cpu_seconds(::getpid());
  ASSERT_TRUE(before.has_value());
  // Spin until the kernel's count moves (one clock tick, 10 ms), bounded at 5 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::optional<double> after = before;
  volatile std::uint64_t sink = 0;
  while (*after == *before && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 100000; ++i) sink = sink + static_cast<std::uint64_t>(i);
    after = process_cpu_seconds(::getpid());
  }
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(*after, *before);
  EXPECT_FALSE(process_cpu_seconds(4'194'304 + 1).has_value());  // past PID_MAX_LIMIT
}

}  // namespace
}  // namespace ringwire::load
