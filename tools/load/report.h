#pragma once
// Report: the human-readable text of a run — the live line and the final report. Pure
// formatting of a LoadResult; any thread.

#include <string>

#include "load.h"

namespace ringwire::load {

std::string format_live_line(const LiveLine& line);
std::string format_report(const LoadResult& result);
// When not one connection was established: "connect 127.0.0.1:7000: Connection refused", naming
// the commonest connect error (or the give-up, when connects neither succeeded nor failed).
std::string format_no_connection(const LoadResult& result);
// "12.3us", "4.56ms", "1.20s": a latency in nanoseconds, three significant digits.
std::string format_latency(std::uint64_t ns);

// The report's percentiles, in order (DESIGN §2).
inline constexpr double kReportPercentiles[] = {50, 90, 99, 99.9, 99.99};

}  // namespace ringwire::load
