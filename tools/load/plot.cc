#include "plot.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>

namespace ringwire::load {

std::string plot_title(std::string_view what, const LoadOptions& run, std::string_view connections,
                       std::string_view rate) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &utc);
  return fmt::format("ringwire-load {}: {} loop, {} B, depth {}, {} connections, rate {}, {}, {}",
                     what, run.open_loop() ? "open" : "closed", run.size, run.depth, connections,
                     rate, date, host);
}

void draw_png(const std::string& dir, const std::string& name, const std::string& script) {
  const std::string path = dir + "/" + name + ".gp";
  std::ofstream gp(path);
  gp << "set terminal pngcairo size 1000,700 noenhanced\n"
     << "set output '" << dir << "/" << name << ".png'\n"
     << script;
  gp.close();
  // The terminal needs cairo; gnuplot-nox has it. Without gnuplot the CSV is still there.
  const std::string command = fmt::format("gnuplot '{}' 2>&1", path);
  if (std::system(command.c_str()) != 0) {
    fmt::print(stderr, "ringwire-load: gnuplot failed; {}/{}.csv has the data\n", dir, name);
  }
}

}  // namespace ringwire::load
