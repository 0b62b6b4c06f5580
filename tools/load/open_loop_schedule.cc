#include "open_loop_schedule.h"

#include <utility>

namespace ringwire::load {

OpenLoopSchedule::OpenLoopSchedule(double rate, std::size_t total_connections,
                                   std::vector<std::size_t> global_indices)
    : period_ns_(1e9L / static_cast<long double>(rate)),
      total_(static_cast<long double>(total_connections)),
      global_(std::move(global_indices)),
      sent_(global_.size(), 0) {}

void OpenLoopSchedule::start(std::int64_t start_ns) {
  start_ns_ = start_ns;
  cursor_ = 0;
  for (auto& n : sent_) n = 0;
}

}  // namespace ringwire::load
