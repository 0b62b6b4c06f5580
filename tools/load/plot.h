#pragma once
// Plot: the gnuplot side of `sweep` and `find-max`. A title that says what was measured, and one
// way to run a script into DIR/NAME.png. Controlling thread; runs gnuplot as a child process.

#include <string>
#include <string_view>

#include "options.h"

namespace ringwire::load {

// "ringwire-load WHAT: closed loop, 64 B, depth 16, 100 connections, rate -, 2026-11-30 23:50
// UTC, host": mode, size, depth, connections (as given), rate, date and host.
std::string plot_title(std::string_view what, const LoadOptions& run, std::string_view connections,
                       std::string_view rate);

// Writes `script` (gnuplot commands after the terminal and output lines) to DIR/NAME.gp and runs
// gnuplot on it, drawing DIR/NAME.png; says on stderr when gnuplot fails (the CSV is still there).
void draw_png(const std::string& dir, const std::string& name, const std::string& script);

}  // namespace ringwire::load
