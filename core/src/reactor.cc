#include "ringwire/reactor.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "ringwire/log.h"

namespace ringwire {
namespace {

// The CPUs this process may run on, in order (respects taskset and cgroups).
std::vector<std::size_t> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<std::size_t> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (std::size_t cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace

void setup_loop_thread(std::size_t index, bool pin) {
  char name[16];  // the kernel's limit for a thread name, with its terminator
  std::snprintf(name, sizeof name, "ringwire-loop%zu", index);
  ::pthread_setname_np(::pthread_self(), name);
  set_log_loop(index);
  if (!pin) return;
  const auto cpus = allowed_cpus();
  if (cpus.empty()) return;
  const std::size_t cpu = cpus[index % cpus.size()];
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) != 0) {
    log(LogLevel::kWarn, "loop {}: could not pin to cpu {}", index, cpu);
  }
}

std::size_t Reactor::online_cores() {
  const auto cpus = allowed_cpus();
  if (!cpus.empty()) return cpus.size();
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<std::size_t>(n) : 1;
}

Reactor::Reactor(const ReactorOptions& options) : options_(options) {
  const std::size_t n = options.loops == 0 ? online_cores() : options.loops;
  loops_.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    loops_.push_back(std::make_unique<EventLoop>(options.backend));
}

Reactor::~Reactor() {
  stop();
  join();
}

void Reactor::start() {
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    threads_.emplace_back([this, i] {
      setup_loop_thread(i, options_.pin_cpus);
      loops_[i]->run();
    });
  }
}

void Reactor::stop() {
  for (auto& loop : loops_) loop->stop();
}

void Reactor::join() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

}  // namespace ringwire
