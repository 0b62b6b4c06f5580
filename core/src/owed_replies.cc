#include "ringwire/owed_replies.h"

#include <algorithm>
#include <utility>

namespace ringwire {

void OwedReplies::skip(std::size_t n) {
  if (echo_bytes_ == 0) {
    consume_input(n);
  } else {
    skipped_bytes_ = n;
  }
}

std::span<std::byte> OwedReplies::append(std::size_t n) {
  if (!output_.mapped()) output_ = lender_.take(std::max(n, RingPool::kMinRingCapacity));
  if (output_.free_space() < n) {
    const bool sending_from_output = in_flight_ > echo_bytes_;
    if (sending_from_output && !retired_output_.mapped()) {
      // The transport is sending from this ring: keep it mapped until that send completes (a
      // ring already retired holds those bytes, and this one may go).
      retired_output_ = std::exchange(output_, lender_.copy_to_larger(output_, output_.size() + n));
    } else {
      lender_.grow(output_, output_.size() + n);
    }
  }
  const std::span<std::byte> room = output_.writable().first(n);
  output_.commit(n);
  return room;
}

void OwedReplies::pass_through(std::size_t in_ring, std::size_t outside) {
  echo_bytes_ += in_ring;
  outside_ += outside;
}

OwedReplies::Spans OwedReplies::ring_spans() const {
  Spans owed;
  std::size_t skip = in_flight_;
  const auto add = [&](std::span<const std::byte> bytes) {
    const std::size_t from = std::min(skip, bytes.size());
    skip -= from;
    if (bytes.size() == from) return;
    owed.spans[owed.count++] = bytes.subspan(from);
    owed.bytes += bytes.size() - from;
  };
  if (echo_bytes_ > 0) add(input_.readable().first(echo_bytes_));
  if (!output_.empty()) add(output_.readable());
  return owed;
}

bool OwedReplies::sent(std::size_t n) {
  in_flight_ -= std::min(n, in_flight_);
  const std::size_t from_input = std::min(n, echo_bytes_);
  if (from_input > 0) {
    consume_input(from_input);
    echo_bytes_ -= from_input;
  }
  if (n > from_input) output_.consume(n - from_input);
  if (in_flight_ == 0) lender_.give_back(retired_output_);
  if (echo_bytes_ > 0 || skipped_bytes_ == 0) return false;
  consume_input(std::exchange(skipped_bytes_, 0));
  return true;
}

void OwedReplies::shed_idle_rings() {
  if (output_.mapped() && output_.empty()) lender_.give_back(output_);
}

// The one place input bytes leave the ring.
void OwedReplies::consume_input(std::size_t n) { input_.consume(n); }

void OwedReplies::drop() {
  echo_bytes_ = skipped_bytes_ = in_flight_ = outside_ = 0;
  lender_.give_back(output_);
  lender_.give_back(retired_output_);
}

}  // namespace ringwire
