#include "ringwire/frame_session.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <system_error>

#include "ringwire/log.h"

namespace ringwire {

// The link from a LateReply to its session: lives exactly as long as the session waits for it.
class LateReplySlot {
 public:
  explicit LateReplySlot(FrameSession& owner) : session(&owner) {}
  FrameSession* session;
};

bool LateReply::send(std::span<const std::byte> frames) {
  const std::shared_ptr<LateReplySlot> slot = slot_.lock();
  slot_.reset();
  if (!slot) return false;
  slot->session->reply_late(frames);
  return true;
}

FrameSession::FrameSession(SessionContext& context, SessionTransport& transport)
    : ctx_(context),
      transport_(transport),
      echo_all_(context.service.echoes_every_frame()),
      lender_{context.rings, context.stats},
      replies_(input_, lender_) {}

FrameSession::~FrameSession() {
  replies_.drop();
  lender_.give_back(input_);
}

void FrameSession::start() {
  note_progress();
  if (ctx_.limits.idle_timeout > Clock::duration::zero()) {
    deadline_ = last_progress_ + ctx_.limits.idle_timeout;
  }
}

// ---- reading ----

bool FrameSession::wants_read() const {
  if (state_ == ConnectionState::kLingering) return true;
  return state_ == ConnectionState::kOpen && !peer_finished_ && !reading_paused_ && !pipe_full_;
}

std::span<std::byte> FrameSession::read_room() {
  if (state_ == ConnectionState::kLingering) {
    // The peer's bytes are dropped: read them anywhere (the ring is lent only for this read).
    input_.clear();
    return make_input_room() ? input_.writable() : std::span<std::byte>{};
  }
  if (!wants_read() || !make_input_room()) {
    update_backpressure();
    return {};
  }
  return input_.writable();
}

void FrameSession::received(std::size_t n) {
  if (state_ == ConnectionState::kLingering) {
    input_.clear();
    return;
  }
  input_.commit(n);
  ctx_.stats.bytes_received.add(n);
  process_input();
  update_backpressure();
}

void FrameSession::peer_finished() {
  if (state_ == ConnectionState::kLingering) {
    close_now(close_reason_);
    return;
  }
  peer_finished_ = true;
  if (state_ == ConnectionState::kOpen) flush_then_close(CloseReason::kPeerClosed);
}

void FrameSession::failed() {
  close_now(state_ == ConnectionState::kLingering ? close_reason_ : CloseReason::kPeerReset);
}

// Makes free space in the input ring, taking one from the pool or growing it when a single
// partial frame fills it. False when the ring is full of frames whose replies are still owed.
bool FrameSession::make_input_room() {
  try {
    if (!input_.mapped()) input_ = lender_.take(RingPool::kMinRingCapacity);
    if (!input_.full()) return true;
    // Owed bytes wait for a send; undecoded ones wait for the channel ahead of them to be sent.
    if (replies_.input_waiting() > 0 || pipe_bytes() > 0 || late_) return false;
    // Full, nothing owed, and every complete frame was processed: one frame bigger than the ring.
    // Double it: memory follows the bytes that actually arrive, never the announced length.
    lender_.grow(input_, 2 * input_.capacity());
    return true;
  } catch (const std::system_error& error) {
    ctx_.peer_warnings.warn(transport_.now(), "{}: no ring buffer for the connection ({}), closing",
                            transport_.peer_name(), error.what());
    close_now(CloseReason::kOutOfMemory);
    return false;
  }
}

// After the peer's EOF every complete frame is still answered; after an error nothing more is.
bool FrameSession::decoding() const {
  return state_ == ConnectionState::kOpen ||
         (state_ == ConnectionState::kFlushing && close_reason_ == CloseReason::kPeerClosed);
}

void FrameSession::process_input() {
  // Bytes behind the channel's are decoded only once it is sent, so the replies keep their order;
  // bytes behind a late reply wait for it.
  bool progressed = false;
  while (decoding() && replies_.input_waiting() == replies_.echoed() && pipe_bytes() == 0 &&
         transit_left_ == 0 && !late_ && input_.mapped()) {
    if (echo_all_ && replies_.echo_in_place() && echo_run()) progressed = true;
    const auto pending = input_.readable().subspan(replies_.echoed());
    const FrameView frame = decode_frame(pending, ctx_.limits.max_frame);
    if (frame.status == FrameStatus::kNeedMore) {
      begin_pass_through(frame, pending.size());
      return;
    }
    if (frame.status == FrameStatus::kTooLarge) {
      ctx_.stats.frames_oversized.add();
      protocol_error("frame length over --max-frame", frame.length);
      return;
    }
    ctx_.stats.frames_received.add();
    ctx_.stats.frame_sizes.record(frame.length);
    if (!progressed) note_progress();  // once per batch: the loop's clock is per turn anyway
    progressed = true;
    spilled_ = false;
    FrameResult result;
    try {
      result = ctx_.service.on_frame(frame.payload, *this);
    } catch (const std::bad_alloc&) {
      close_now(CloseReason::kOutOfMemory);
      return;
    } catch (const std::system_error&) {
      close_now(CloseReason::kOutOfMemory);
      return;
    } catch (const std::exception& error) {
      ctx_.peer_warnings.warn(transport_.now(), "{}: service {} failed: {}; closing",
                              transport_.peer_name(), ctx_.service.name(), error.what());
      close_now(CloseReason::kServiceError);
      return;
    }
    switch (result.verdict) {
      case FrameVerdict::kEcho:
        if (replies_.echo_in_place()) {
          replies_.echo(frame.needed);  // sent from where it lies
        } else {
          // Replies written by the service are queued: keep the order by queueing a copy.
          std::memcpy(append(frame.needed).data(), pending.data(), frame.needed);
          replies_.skip(frame.needed);
        }
        break;
      case FrameVerdict::kDone:
        replies_.skip(frame.needed);
        break;
      case FrameVerdict::kProtocolError:
        replies_.skip(frame.needed);
        protocol_error(result.error, frame.length);
        return;
    }
  }
}

// A service that echoes every frame is not asked: each whole frame in the ring joins the echoed
// prefix where it lies, a run at a time, counted once. Returns whether any frame was whole.
bool FrameSession::echo_run() {
  const std::span<const std::byte> readable = input_.readable();
  const std::size_t from = replies_.echoed();
  std::size_t at = from;
  std::uint64_t frames = 0;
  BucketHistogram::Run sizes(ctx_.stats.frame_sizes);
  for (;;) {
    const FrameView frame = decode_frame(readable.subspan(at), ctx_.limits.max_frame);
    if (frame.status != FrameStatus::kComplete) break;
    sizes.record(frame.length);
    at += frame.needed;
    ++frames;
  }
  if (frames == 0) return false;
  replies_.echo(at - from);
  ctx_.stats.frames_received.add(frames);
  note_progress();
  spilled_ = false;
  return true;
}

// ---- pass-through ----

// Starts passing `frame` through when it qualifies; `in_ring` of its bytes are already in the
// input ring (after the echoed prefix). Nothing is sized from its length but the check against
// the channel's capacity, and the length was checked against max-frame when decoded.
bool FrameSession::begin_pass_through(const FrameView& frame, std::size_t in_ring) {
  if (spilled_ || state_ != ConnectionState::kOpen || peer_finished_ ||
      frame.needed < kPassThroughMinFrame || !replies_.echo_in_place() ||
      replies_.input_waiting() > replies_.echoed() || !echo_all_) {
    return false;
  }
  const std::size_t capacity = transport_.pass_through_capacity();
  if (frame.needed > capacity || pipe_bytes() + frame.needed > capacity) return false;
  transit_prefix_ = in_ring;
  transit_left_ = frame.needed - in_ring;
  return true;
}

PeekVerdict FrameSession::peeked(std::span<const std::byte, kFrameHeaderSize> header) {
  const FrameView frame = decode_frame(header, ctx_.limits.max_frame);
  if (frame.status == FrameStatus::kNeedMore) {
    if (pipe_bytes() > 0 && pipe_bytes() + frame.needed > transport_.pass_through_capacity()) {
      return PeekVerdict::kSendFirst;  // the frames gathered in the channel leave room for it
    }
    if (begin_pass_through(frame, 0)) return PeekVerdict::kPassThrough;
  }
  peek_next_ = false;
  return PeekVerdict::kRead;
}

void FrameSession::passed_in(std::size_t n) {
  ctx_.stats.bytes_received.add(n);
  note_progress();  // a large frame in transit is progress, not idleness
  pipe_held_ += n;
  transit_left_ -= n;
  if (transit_left_ == 0) finish_pass_through();
  update_backpressure();
}

void FrameSession::channel_full() {
  // Owed frames fill the channel and the socket takes no more: backpressure, as a full ring is.
  if (!pipe_full_) ctx_.stats.backpressure_pauses.add();
  pipe_full_ = true;
}

// The frame in transit is whole: its reply is owed, the ring prefix first, then the channel.
void FrameSession::finish_pass_through() {
  ctx_.stats.frames_received.add();
  ctx_.stats.frame_sizes.record(transit_prefix_ + pipe_held_ - kFrameHeaderSize);
  ctx_.stats.frames_passed_through.add();
  replies_.pass_through(transit_prefix_, pipe_held_);
  transit_prefix_ = pipe_held_ = 0;
  peek_next_ = true;
}

void FrameSession::passed_out(std::size_t n) {
  ctx_.stats.bytes_sent.add(n);
  note_progress();
  replies_.sent_outside(n);
  pipe_full_ = false;
  if (pipe_bytes() == 0 && transit_left_ == 0) process_input();  // decoding waited behind it
  update_backpressure();
}

// Room in the input ring for the whole frame in transit (at most the channel's capacity, so
// bounded) after what the ring has; rare (see frame_session.h).
std::span<std::byte> FrameSession::spill_room() {
  ctx_.stats.pass_through_spills.add();
  try {
    const std::size_t have = input_.mapped() ? input_.size() : 0;
    const std::size_t need = have + pipe_held_ + transit_left_;
    if (!input_.mapped() || input_.capacity() < need) lender_.grow(input_, need);
  } catch (const std::system_error& error) {
    ctx_.peer_warnings.warn(transport_.now(), "{}: no ring buffer for the connection ({}), closing",
                            transport_.peer_name(), error.what());
    close_now(CloseReason::kOutOfMemory);
    return {};
  }
  return input_.writable().first(pipe_held_);
}

void FrameSession::spilled() {
  input_.commit(pipe_held_);
  pipe_held_ = 0;
  transit_prefix_ = transit_left_ = 0;
  spilled_ = true;
  peek_next_ = false;
}

// ---- writing ----

std::span<std::byte> FrameSession::append(std::size_t n) { return replies_.append(n); }

LateReply FrameSession::defer() {
  late_ = std::make_shared<LateReplySlot>(*this);
  return LateReply(late_);
}

void FrameSession::reply_late(std::span<const std::byte> bytes) {
  late_.reset();
  if (state_ == ConnectionState::kClosed || state_ == ConnectionState::kLingering) return;
  try {
    if (!bytes.empty()) std::memcpy(append(bytes.size()).data(), bytes.data(), bytes.size());
  } catch (const std::exception&) {
    close_now(CloseReason::kOutOfMemory);
  }
  process_input();  // the frames behind it
  transport_.send_owed();
}

void FrameSession::sent(std::size_t n) {
  ctx_.stats.bytes_sent.add(n);
  note_progress();
  if (replies_.sent(n)) process_input();  // decoding paused behind the echoed prefix: resume it
  update_backpressure();
}

void FrameSession::update_backpressure() {
  // While a frame passes through, reading goes to the channel: the ring (holding at most that
  // frame's prefix, which leaves only once the frame is whole) must not hold reading back.
  const bool ring_matters = input_.mapped() && transit_left_ == 0;
  // Ring bytes wait for a send (owed) or for the channel ahead of them; with neither, a full ring
  // holds one partial frame and make_input_room() grows it, so reading may go on.
  const bool ring_waits = replies_.input_waiting() > 0 || pipe_bytes() > 0 || late_;
  const bool input_blocked = ring_matters && input_.full() && ring_waits;
  if (!reading_paused_) {
    if (unsent() >= ctx_.limits.high_water || input_blocked) {
      reading_paused_ = true;
      ctx_.stats.backpressure_pauses.add();
    }
  } else if (unsent() <= ctx_.limits.low_water && !input_blocked &&
             (!ring_matters || !ring_waits || input_.free_space() >= input_.capacity() / 4)) {
    // The quarter-free hysteresis is for a ring of frames still owed a reply (or waiting behind
    // the channel); with none, what fills the ring is one partial frame, and only reading (which
    // grows the ring) completes it.
    reading_paused_ = false;
  }
}

// ---- closing ----

void FrameSession::protocol_error(std::string_view what, std::uint32_t length) {
  ctx_.peer_warnings.warn(
      transport_.now(),
      "{}: protocol error: {} (length {}, limit {}); closing after {} byte(s) of replies owed",
      transport_.peer_name(), what, length, ctx_.limits.max_frame, unsent());
  flush_then_close(CloseReason::kProtocolError);
}

void FrameSession::flush_then_close(CloseReason reason) {
  state_ = ConnectionState::kFlushing;
  close_reason_ = reason;
}

void FrameSession::settle() {
  if (draining_ && state_ == ConnectionState::kOpen && quiet()) {
    // Everything that arrived is answered. Shut our side and linger rather than close: replies
    // may still sit in the kernel's send queue (the peer reads slowly), and a close that races
    // with the peer's next bytes resets the connection and destroys them.
    flush_then_close(CloseReason::kDrained);
  }
  if (state_ == ConnectionState::kFlushing && unsent() == 0 && !late_) finish_flush();
  if (state_ == ConnectionState::kClosed) return;
  update_backpressure();
  if (input_.mapped() && input_.empty()) lender_.give_back(input_);
  replies_.shed_idle_rings();
}

// Everything owed was sent.
void FrameSession::finish_flush() {
  if (peer_finished_) {
    // Every complete frame was answered: what is left is an incomplete last frame, in the ring
    // or (passing through) in the ring and the channel.
    const std::size_t partial = (input_.mapped() ? input_.size() : 0) + pipe_held_;
    if (partial > 0) {
      ctx_.stats.trailing_bytes_dropped.add(partial);
      log(LogLevel::kDebug, "{}: closed its side with {} byte(s) of an incomplete frame",
          transport_.peer_name(), partial);
    }
    close_now(close_reason_);
  } else {
    start_lingering();
  }
}

void FrameSession::start_lingering() {
  state_ = ConnectionState::kLingering;
  if (pipe_bytes() > 0 || transit_left_ > 0) pipe_discarded_ = true;
  replies_.drop();
  lender_.give_back(input_);
  transit_prefix_ = transit_left_ = pipe_held_ = 0;
  pipe_full_ = peek_next_ = false;
  deadline_ = transport_.now() + kLingerTimeout;
  transport_.shutdown_write();
}

void FrameSession::on_deadline() {
  if (state_ == ConnectionState::kLingering) {
    close_now(close_reason_);
    return;
  }
  if (state_ == ConnectionState::kClosed) return;
  const TimePoint due = last_progress_ + ctx_.limits.idle_timeout;
  if (transport_.now() >= due) {
    log(LogLevel::kDebug, "{}: idle for {} ms, closing", transport_.peer_name(),
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.limits.idle_timeout).count());
    close_now(CloseReason::kIdleTimeout);
  } else {
    deadline_ = due;  // progress since arming: re-armed once, not once per frame
  }
}

void FrameSession::close_now(CloseReason reason) {
  if (state_ == ConnectionState::kClosed) return;
  state_ = ConnectionState::kClosed;
  close_reason_ = reason;
  deadline_ = TimePoint::max();
}

bool FrameSession::quiet() {
  if (unsent() > 0 || replies_.in_flight() > 0 || pipe_bytes() > 0 || transit_left_ > 0 || late_ ||
      (input_.mapped() && !input_.empty())) {
    return false;
  }
  return transport_.socket_empty();
}

void FrameSession::release() {
  if (released_) return;
  released_ = true;
  late_.reset();
  replies_.drop();
  lender_.give_back(input_);
  ctx_.stats.count_close(close_reason_);
  ctx_.stats.connections_open.sub();
}

}  // namespace ringwire
