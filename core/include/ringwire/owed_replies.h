#pragma once
// OwedReplies: the replies one connection owes, in the order they are owed, and how much of them
// a transport has been handed. Owned by its FrameSession; owns the output ring (lent while it
// holds bytes). Loop thread only.
//
//   owed, in order:  [echoed prefix of the input ring] [output ring] [passed-through bytes]
//   input ring:      | echoed, owed | decoded, skipped* | undecoded ... |
//   (*a non-echo frame decoded while echoed bytes are owed cannot be cut out of the ring: it is
//    dropped once they are sent, and decoding waits until then)
//
// The ordering rule: a frame is echoed from where it lies only while nothing written precedes
// it (the output ring is empty); otherwise its bytes are copied behind the written replies.
// Bytes handed to an asynchronous send stay where they are until sent(): the input ring never
// moves while it holds owed bytes, and an output ring outgrown meanwhile is kept until then.

#include <array>
#include <cstddef>
#include <span>

#include "ringwire/ring_buffer.h"
#include "ringwire/ring_lender.h"

namespace ringwire {

class OwedReplies {
 public:
  struct Spans {
    std::array<std::span<const std::byte>, 2> spans;
    std::size_t count = 0;
    std::size_t bytes = 0;
  };

  OwedReplies(RingBuffer& input, const RingLender& lender) : input_(input), lender_(lender) {}
  ~OwedReplies() { drop(); }
  OwedReplies(const OwedReplies&) = delete;
  OwedReplies& operator=(const OwedReplies&) = delete;

  // ---- what decoding owes ----
  // Whether the next frame may be echoed from where it lies (nothing written precedes it).
  bool echo_in_place() const { return output_.empty(); }
  // The next `n` undecoded input bytes (whole frames) are echoed from where they lie.
  void echo(std::size_t n) { echo_bytes_ += n; }
  // The next `n` undecoded input bytes were handled without an echo: dropped now, or once the
  // echoed prefix before them is sent.
  void skip(std::size_t n);
  // Room for `n` written reply bytes behind everything owed. Throws on no ring (system_error).
  std::span<std::byte> append(std::size_t n);
  // A whole frame moved outside the rings: `in_ring` of its bytes are the input ring's next bytes
  // (echoed from there), `outside` follow them from the transport's channel.
  void pass_through(std::size_t in_ring, std::size_t outside);

  // ---- what the transport sends ----
  // The ring bytes owed and not yet handed to the transport, in order.
  Spans ring_spans() const;
  void sending(std::size_t n) { in_flight_ += n; }
  // The first `n` ring bytes owed were sent. True when a skipped frame was dropped with them:
  // decoding may go on.
  bool sent(std::size_t n);
  // Passed-through bytes owed, sendable once the ring's bytes before them are sent.
  std::size_t outside_ready() const { return in_ring() == 0 ? outside_ : 0; }
  std::size_t outside() const { return outside_; }
  void sent_outside(std::size_t n) { outside_ -= n; }

  // ---- state ----
  std::size_t unsent() const { return echo_bytes_ + output_.size() + outside_; }
  std::size_t in_flight() const { return in_flight_; }
  // Input bytes that wait for a send: the echoed prefix and a skipped frame behind it.
  std::size_t input_waiting() const { return echo_bytes_ + skipped_bytes_; }
  std::size_t echoed() const { return echo_bytes_; }
  // Hands back an empty output ring (an idle connection holds none).
  void shed_idle_rings();
  // Forgets everything owed (lingering, close) and hands the rings back.
  void drop();

 private:
  std::size_t in_ring() const { return echo_bytes_ + output_.size(); }
  void consume_input(std::size_t n);

  RingBuffer& input_;
  const RingLender& lender_;
  RingBuffer output_;
  RingBuffer retired_output_;      // an output ring outgrown while its bytes were being sent
  std::size_t echo_bytes_ = 0;     // owed echoed prefix of the input ring
  std::size_t skipped_bytes_ = 0;  // a decoded non-echo frame right after that prefix
  std::size_t in_flight_ = 0;      // owed ring bytes handed to an asynchronous send
  std::size_t outside_ = 0;        // owed bytes of whole frames passed through
};

}  // namespace ringwire
