#pragma once
// InflightQueue: one connection's requests in send order, oldest first. Owned by its
// ClientConnection; loop thread only.
//
//   head                    sent_end                 tail
//    | sent, awaiting reply  | due, not yet sent      |       (a power-of-two ring of Records)
//
// Replies come back in order (DESIGN §1), so the oldest sent record is the one a reply answers.
// Cost: 16 bytes a record; push/pop O(1); the ring doubles when full (amortised, no allocation
// per frame once it has grown to the connection's working set).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringwire::load {

class InflightQueue {
 public:
  struct Record {
    std::int64_t scheduled_ns;  // closed loop: equal to sent_ns
    std::int64_t sent_ns;
  };

  std::size_t in_flight() const { return sent_end_ - head_; }
  std::size_t pending() const { return tail_ - sent_end_; }
  std::size_t size() const { return tail_ - head_; }

  void push_pending(std::int64_t scheduled_ns) {
    if (tail_ - head_ == records_.size()) grow();
    records_[tail_++ & mask_] = {scheduled_ns, 0};
  }
  // Marks the oldest pending record sent at `sent_ns` and returns it.
  const Record& mark_sent(std::int64_t sent_ns) {
    Record& r = records_[sent_end_++ & mask_];
    r.sent_ns = sent_ns;
    return r;
  }
  // A record sent at once (closed loop).
  void push_sent(std::int64_t sent_ns) {
    push_pending(sent_ns);
    mark_sent(sent_ns);
  }
  // The oldest sent record, removed (in_flight() > 0).
  Record pop_oldest() { return records_[head_++ & mask_]; }
  void clear() { head_ = sent_end_ = tail_ = 0; }
  // Every record sent and not answered becomes due again, oldest first (their connection closed).
  void unsend_all() { sent_end_ = head_; }

 private:
  void grow() {
    const std::size_t capacity = records_.empty() ? 16 : records_.size() * 2;
    std::vector<Record> bigger(capacity);
    for (std::size_t i = head_; i != tail_; ++i) bigger[i - head_] = records_[i & mask_];
    sent_end_ -= head_;
    tail_ -= head_;
    head_ = 0;
    records_ = std::move(bigger);
    mask_ = capacity - 1;
  }

  std::vector<Record> records_;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;  // positions grow without bound; the mask maps them into the ring
  std::size_t sent_end_ = 0;
  std::size_t tail_ = 0;
};

}  // namespace ringwire::load
