#include "hist_log.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

#include "ringwire/base64.h"

namespace ringwire::load {

namespace {

constexpr double kMaxValueUnitRatio = 1e6;  // ns -> ms, HdrHistogram's log default
constexpr std::size_t kV2HeaderBytes = 40;
constexpr std::uint32_t kSignificantDigits = 3;

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_be(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
  return v;
}

// HdrHistogram's ZigZag LEB128-64b9B: 7 bits a byte, low first; the 9th byte carries 8 bits.
void put_zigzag(std::string& out, std::int64_t value) {
  std::uint64_t v =
      (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
  for (int i = 0; i < 8; ++i) {
    if (v < 0x80) {
      out += static_cast<char>(v);
      return;
    }
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v & 0xff);
}

bool get_zigzag(std::string_view in, std::size_t& at, std::int64_t& value) {
  std::uint64_t v = 0;
  for (int i = 0; i < 9; ++i) {
    if (at >= in.size()) return false;
    const auto byte = static_cast<unsigned char>(in[at++]);
    if (i == 8) {
      v |= std::uint64_t{byte} << 56;
      break;
    }
    v |= std::uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  value = static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
  return true;
}

// LEB128 as core's Histogram::encode() writes it (unsigned, no ZigZag).
bool get_varint(std::string_view in, std::size_t& at, std::uint64_t& value) {
  value = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (at >= in.size()) return false;
    const auto byte = static_cast<unsigned char>(in[at++]);
    value |= std::uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// The lowest value counted at counts index `i` (HdrHistogram's valueFromIndex for this layout).
std::uint64_t value_of_index(std::size_t i) {
  constexpr unsigned kHalfBits = Histogram::kSubBucketBits - 1;
  if (i < Histogram::kSubBucketCount) return i;
  const std::size_t bucket = (i >> kHalfBits) - 1;
  return std::uint64_t{i - (bucket << kHalfBits)} << bucket;
}

}  // namespace

std::vector<std::uint64_t> histogram_counts(const Histogram& h) {
  // Read back from core's own exact encoding ("RWH1", 8 LEB128 fields, then each counter as
  // 2*count or a run of k zeros as 2k-1): O(counters), where the public queries are O(counters)
  // per bucket.
  const std::string bytes = h.encode();
  std::size_t at = 4;
  std::uint64_t field = 0;
  for (int i = 0; i < 8; ++i) get_varint(bytes, at, field);
  std::vector<std::uint64_t> counts;
  counts.reserve(Histogram::kCountsLength);
  while (at < bytes.size()) {
    if (!get_varint(bytes, at, field)) break;
    if ((field & 1) == 0) {
      counts.push_back(field >> 1);
    } else {
      counts.resize(counts.size() + static_cast<std::size_t>((field + 1) >> 1), 0);
    }
  }
  while (!counts.empty() && counts.back() == 0) counts.pop_back();
  return counts;
}

std::string encode_hdr_compressed_base64(const Histogram& h) {
  const std::vector<std::uint64_t> counts = histogram_counts(h);
  std::string payload;
  for (std::size_t i = 0; i < counts.size();) {
    if (counts[i] != 0) {
      put_zigzag(payload, static_cast<std::int64_t>(counts[i++]));
      continue;
    }
    std::int64_t zeros = 0;
    while (i < counts.size() && counts[i] == 0) ++i, ++zeros;
    put_zigzag(payload, zeros > 1 ? -zeros : 0);
  }
  std::string v2;
  put_be(v2, kHdrV2Cookie, 4);
  put_be(v2, payload.size(), 4);
  put_be(v2, 0, 4);  // normalizing index offset
  put_be(v2, kSignificantDigits, 4);
  put_be(v2, 1, 8);  // lowest discernible value
  put_be(v2, Histogram::kHighestTrackable, 8);
  std::uint64_t ratio = 0;
  const double one = 1.0;
  std::memcpy(&ratio, &one, sizeof ratio);
  put_be(v2, ratio, 8);
  v2 += payload;

  uLongf length = compressBound(static_cast<uLong>(v2.size()));
  std::string compressed(length, '\0');
  if (compress2(reinterpret_cast<Bytef*>(compressed.data()), &length,
                reinterpret_cast<const Bytef*>(v2.data()), static_cast<uLong>(v2.size()),
                Z_DEFAULT_COMPRESSION) != Z_OK) {
    throw std::runtime_error("zlib compress2 failed");
  }
  compressed.resize(length);
  std::string out;
  put_be(out, kHdrV2CompressedCookie, 4);
  put_be(out, compressed.size(), 4);
  out += compressed;
  return encode_base64(out);
}

std::optional<Histogram> decode_hdr_compressed_base64(std::string_view text) {
  const std::optional<std::string> bytes = decode_base64(text);
  if (!bytes || bytes->size() < 8 || get_be(*bytes, 0, 4) != kHdrV2CompressedCookie) {
    return std::nullopt;
  }
  const std::uint64_t zipped = get_be(*bytes, 4, 4);
  if (zipped > bytes->size() - 8) return std::nullopt;
  // The V2 header says how long the payload is; inflate in growing steps until it all fits.
  std::string v2(std::max<std::size_t>(4 * zipped, 4096), '\0');
  for (;;) {
    uLongf length = static_cast<uLongf>(v2.size());
    const int rc =
        uncompress(reinterpret_cast<Bytef*>(v2.data()), &length,
                   reinterpret_cast<const Bytef*>(bytes->data() + 8), static_cast<uLong>(zipped));
    if (rc == Z_BUF_ERROR && v2.size() < (std::size_t{64} << 20)) {
      v2.resize(v2.size() * 4);
      continue;
    }
    if (rc != Z_OK) return std::nullopt;
    v2.resize(length);
    break;
  }
  if (v2.size() < kV2HeaderBytes || get_be(v2, 0, 4) != kHdrV2Cookie) return std::nullopt;
  const std::uint64_t payload = get_be(v2, 4, 4);
  if (get_be(v2, 12, 4) != kSignificantDigits || get_be(v2, 16, 8) != 1 ||
      payload > v2.size() - kV2HeaderBytes) {
    return std::nullopt;  // another layout: its counters would not map one to one
  }
  Histogram h;
  std::size_t at = kV2HeaderBytes;
  const std::size_t end = kV2HeaderBytes + static_cast<std::size_t>(payload);
  const std::string_view in(v2.data(), end);
  std::size_t index = 0;
  while (at < end) {
    std::int64_t value = 0;
    if (!get_zigzag(in, at, value)) return std::nullopt;
    if (value < 0) {
      index += static_cast<std::size_t>(-value);
      continue;
    }
    if (index >= Histogram::kCountsLength) return std::nullopt;
    if (value > 0) h.record_n(value_of_index(index), static_cast<std::uint64_t>(value));
    ++index;
  }
  return h;
}

HistLogWriter::HistLogWriter(const std::string& path, double start_epoch_s)
    : file_(path == "-" ? stdout : std::fopen(path.c_str(), "w")), stdout_(path == "-") {
  if (file_ == nullptr) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  const auto seconds = static_cast<std::time_t>(start_epoch_s);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char when[64];
  std::strftime(when, sizeof when, "%a %b %d %H:%M:%S UTC %Y", &utc);
  fmt::print(file_,
             "#[Written by ringwire-load: latency from the scheduled send (open loop) or the send "
             "(closed loop), in nanoseconds]\n"
             "#[Histogram log format version 1.3]\n"
             "#[StartTime: {:.3f} (seconds since epoch), {}]\n"
             "#[BaseTime: {:.3f} (seconds since epoch)]\n"
             "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
             "\"Interval_Compressed_Histogram\"\n",
             start_epoch_s, when, start_epoch_s);
  std::fflush(file_);
}

HistLogWriter::~HistLogWriter() {
  if (stdout_) {
    std::fflush(file_);
  } else {
    std::fclose(file_);
  }
}

void HistLogWriter::write_interval(double start_s, double length_s, const Histogram& h) {
  fmt::print(file_, "{:.3f},{:.3f},{:.3f},{}\n", start_s, length_s,
             static_cast<double>(h.max()) / kMaxValueUnitRatio, encode_hdr_compressed_base64(h));
  std::fflush(file_);
}

std::vector<HistLogInterval> read_hist_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::vector<HistLogInterval> intervals;
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty() || line[0] == '#' || line[0] == '"') continue;
    // An optional "Tag=NAME," first, then start,length,max,histogram.
    std::string_view rest(line);
    if (rest.rfind("Tag=", 0) == 0) rest.remove_prefix(std::min(rest.size(), rest.find(',') + 1));
    std::vector<std::string_view> fields;
    while (fields.size() < 3) {
      const auto comma = rest.find(',');
      if (comma == std::string_view::npos) break;
      fields.push_back(rest.substr(0, comma));
      rest.remove_prefix(comma + 1);
    }
    std::optional<Histogram> h;
    if (fields.size() == 3) h = decode_hdr_compressed_base64(rest);
    if (!h) {
      throw std::runtime_error(fmt::format(
          "{}:{}: not an interval of HdrHistogram's log (V2 compressed, 3 digits)", path, number));
    }
    HistLogInterval interval;
    interval.start_s = std::strtod(std::string(fields[0]).c_str(), nullptr);
    interval.length_s = std::strtod(std::string(fields[1]).c_str(), nullptr);
    interval.histogram = std::move(*h);
    intervals.push_back(std::move(interval));
  }
  return intervals;
}

bool is_hist_log(const std::string& path) {
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  return first.rfind("#[", 0) == 0 || first.find("HISTF") != std::string::npos;
}

}  // namespace ringwire::load
