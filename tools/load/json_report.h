#pragma once
// JSON output of a run (--json FILE): the DESIGN §2 keys, every option used, the machine and
// kernel, and each histogram in its exact encoded form so runs from many hosts merge exactly.
// Any thread.

#include <nlohmann/json.hpp>
#include <string>

#include "load.h"

namespace ringwire::load {

nlohmann::json to_json(const LoadResult& result);
nlohmann::json histogram_json(const Histogram& h);  // percentiles in µs, plus "encoded"
nlohmann::json machine_json();
// The version of the JSON's layout: 2 added schema_version, tool, started_at, ended_at,
// command_line and series.
inline constexpr int kJsonSchemaVersion = 2;
// "2026-11-30T23:47:10.123Z": RFC 3339, UTC, milliseconds.
std::string rfc3339(double epoch_s);
// schema_version, tool {name, version, commit}: the keys every JSON file of the tool begins with.
nlohmann::json json_header();
// The --json (and --hgrm) path that means standard output.
inline constexpr std::string_view kStdoutPath = "-";
// Writes `value` to `path` ("-": standard output); throws std::runtime_error naming the file on
// failure.
void write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace ringwire::load
