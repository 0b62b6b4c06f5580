#include "ringwire/histogram.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "ringwire/base64.h"

namespace ringwire {

namespace {

constexpr char kMagic[4] = {'R', 'W', 'H', '1'};

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// Reads one LEB128 value; false when the input ends early or the value overflows 64 bits.
bool get_varint(std::span<const std::byte>& in, std::uint64_t& value) {
  value = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto byte = std::to_integer<std::uint64_t>(in.front());
    in = in.subspan(1);
    value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

Histogram::Histogram() : counts_(kCountsLength, 0) {}

std::uint64_t Histogram::value_of_index(std::size_t index) {
  if (index < kSubBucketCount) return index;
  const std::size_t bucket = (index >> (kSubBucketBits - 1)) - 1;
  const std::uint64_t sub_bucket = index - (bucket << (kSubBucketBits - 1));
  return sub_bucket << bucket;
}

std::uint64_t Histogram::bucket_size_of_index(std::size_t index) {
  if (index < kSubBucketCount) return 1;
  return std::uint64_t{1} << ((index >> (kSubBucketBits - 1)) - 1);
}

std::uint64_t Histogram::lowest_equivalent(std::uint64_t value) {
  return value_of_index(index_of(std::min(value, kHighestTrackable)));
}

std::uint64_t Histogram::highest_equivalent(std::uint64_t value) {
  const std::size_t index = index_of(std::min(value, kHighestTrackable));
  return value_of_index(index) + bucket_size_of_index(index) - 1;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < kCountsLength; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  clamped_ += other.clamped_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = clamped_ = max_ = 0;
  min_ = UINT64_MAX;
  sum_ = 0;
}

double Histogram::mean() const {
  if (total_ == 0) return 0.0;
  return static_cast<double>(sum_) / static_cast<double>(total_);
}

std::uint64_t Histogram::value_at_percentile(double percentile) const {
  if (total_ == 0) return 0;
  if (percentile <= 0.0) return min();
  const double fraction = std::min(percentile, 100.0) / 100.0;
  // The rank of the wanted value, 1-based: ceil(fraction * total), at least 1.
  auto rank = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(total_)));
  rank = std::clamp<std::uint64_t>(rank, 1, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kCountsLength; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t highest = value_of_index(i) + bucket_size_of_index(i) - 1;
      return std::min(highest, max_);
    }
  }
  return max_;
}

std::uint64_t Histogram::count_at_or_below(std::uint64_t value) const {
  const std::size_t last = index_of(std::min(value, kHighestTrackable));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i <= last; ++i) seen += counts_[i];
  return seen;
}

std::string Histogram::encode() const {
  std::string out(kMagic, sizeof kMagic);
  put_varint(out, kSubBucketBits);
  put_varint(out, kBucketCount);
  put_varint(out, total_);
  put_varint(out, clamped_);
  put_varint(out, min_);
  put_varint(out, max_);
  put_varint(out, static_cast<std::uint64_t>(sum_));
  put_varint(out, static_cast<std::uint64_t>(sum_ >> 64));
  // Counters: a non-zero count is written as 2*count; a run of k zeros as 2*k - 1 (odd).
  for (std::size_t i = 0; i < kCountsLength;) {
    if (counts_[i] != 0) {
      put_varint(out, counts_[i] << 1);  // counts above 2^63 cannot occur in practice
      ++i;
      continue;
    }
    std::size_t run = 0;
    while (i < kCountsLength && counts_[i] == 0) ++i, ++run;
    put_varint(out, (std::uint64_t{run} << 1) - 1);
  }
  return out;
}

std::optional<Histogram> Histogram::decode(std::span<const std::byte> in) {
  if (in.size() < sizeof kMagic || std::memcmp(in.data(), kMagic, sizeof kMagic) != 0) {
    return std::nullopt;
  }
  in = in.subspan(sizeof kMagic);
  std::array<std::uint64_t, 8> fields{};
  for (auto& field : fields) {
    if (!get_varint(in, field)) return std::nullopt;
  }
  if (fields[0] != kSubBucketBits || fields[1] != kBucketCount) return std::nullopt;
  Histogram h;
  h.total_ = fields[2];
  h.clamped_ = fields[3];
  h.min_ = fields[4];
  h.max_ = fields[5];
  h.sum_ = (static_cast<unsigned __int128>(fields[7]) << 64) | fields[6];
  std::size_t i = 0;
  std::uint64_t check_total = 0;
  while (!in.empty()) {
    std::uint64_t word = 0;
    if (!get_varint(in, word)) return std::nullopt;
    if ((word & 1) == 0) {
      if (i >= kCountsLength) return std::nullopt;
      h.counts_[i++] = word >> 1;
      check_total += word >> 1;
    } else {
      const std::uint64_t run = (word + 1) >> 1;
      if (run > kCountsLength - i) return std::nullopt;
      i += static_cast<std::size_t>(run);
    }
  }
  if (i != kCountsLength || check_total != h.total_) return std::nullopt;
  return h;
}

std::string Histogram::encode_base64() const { return ringwire::encode_base64(encode()); }

std::optional<Histogram> Histogram::decode_base64(std::string_view text) {
  const std::optional<std::string> bytes = ringwire::decode_base64(text);
  if (!bytes) return std::nullopt;
  return decode(std::as_bytes(std::span(bytes->data(), bytes->size())));
}

}  // namespace ringwire
