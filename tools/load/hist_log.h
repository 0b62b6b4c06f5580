#pragma once
// HdrHistogram's interval log (--hist-log FILE; read back by `ringwire-load merge`): one line per
// interval, "start,length,max,HISTFAAA...", where the last field is the base64 of the histogram
// in HdrHistogram's V2 compressed encoding:
//
//   compressed: [cookie 0x1c849314: int32 BE][zlib length: int32 BE][zlib(deflate) of ...]
//   V2:         [cookie 0x1c849313][payload length][normalizing offset 0][significant digits 3]
//               [lowest discernible 1: int64][highest trackable: int64][conversion ratio 1.0:
//               double], then the counts: ZigZag LEB128 (at most 9 bytes), a negative value -k
//               meaning k zero counts.
//
// core's Histogram has HdrHistogram's own layout for 3 significant digits, lowest value 1 and its
// highest trackable value (2048 sub-buckets, 32 buckets), so its counters map one to one: writing
// and reading are exact. Values are nanoseconds; the max column is in milliseconds (HdrHistogram's
// default ratio). Pure functions over strings and histograms; any thread. zlib from Debian.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringwire/histogram.h"

namespace ringwire::load {

inline constexpr std::uint32_t kHdrV2Cookie = 0x1c849303 | 0x10;
inline constexpr std::uint32_t kHdrV2CompressedCookie = 0x1c849304 | 0x10;

// Every counter of `h`, index for index (HdrHistogram's counts array), trailing zeros dropped.
std::vector<std::uint64_t> histogram_counts(const Histogram& h);

// The V2 compressed encoding of `h`, in base64 ("HISTFAAA...").
std::string encode_hdr_compressed_base64(const Histogram& h);
// The histogram in a "HISTF..." field; nullopt when it is not one of this layout.
std::optional<Histogram> decode_hdr_compressed_base64(std::string_view text);

// Writes an interval log: the header when opened, then one line per interval.
class HistLogWriter {
 public:
  // `start_epoch_s`: the log's StartTime (seconds since the epoch); interval starts are relative
  // to it. Throws std::runtime_error naming the file when it cannot be written.
  HistLogWriter(const std::string& path, double start_epoch_s);
  ~HistLogWriter();
  HistLogWriter(const HistLogWriter&) = delete;
  HistLogWriter& operator=(const HistLogWriter&) = delete;

  void write_interval(double start_s, double length_s, const Histogram& h);

 private:
  std::FILE* file_;
  bool stdout_;
};

struct HistLogInterval {
  double start_s = 0;
  double length_s = 0;
  Histogram histogram;
};
// Reads an interval log; throws std::runtime_error naming the line that is not one.
std::vector<HistLogInterval> read_hist_log(const std::string& path);
// Whether `path` looks like an interval log (a "#[" header or a "HISTF" field) rather than JSON.
bool is_hist_log(const std::string& path);

}  // namespace ringwire::load
