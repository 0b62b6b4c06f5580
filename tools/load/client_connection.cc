#include "client_connection.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>
#include <utility>

#include "ringwire/frame.h"
#include "worker.h"

namespace ringwire::load {

ClientConnection::ClientConnection(Worker& worker, std::size_t local_index)
    : worker_(worker),
      local_index_(local_index),
      log_latency_(!worker.options().hist_log_file.empty()) {}

ClientConnection::~ClientConnection() { close(); }

void ClientConnection::connect(const SocketAddress& server, const SocketAddress* source) {
  connect_started_ns_ = now_ns();
  state_ = State::kIdle;  // churn and --reconnect: a closed slot connects again
  if (!resuming_) {
    next_send_sequence_ = next_reply_sequence_ = 0;
    cycle_sent_ = cycle_replied_ = 0;
  }
  fd_.reset(::socket(server.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd_) return fail_connect(errno);
  if (source != nullptr) {
    // Defer the port choice to connect(), so a port is unique per 4-tuple, not per source address.
    const int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd_.get(), source->get(), source->length) != 0) return fail_connect(errno);
  }
  if (::connect(fd_.get(), server.get(), server.length) != 0 && errno != EINPROGRESS) {
    return fail_connect(errno);
  }
  state_ = State::kConnecting;
  token_ = worker_.loop().add_io(fd_.get(), Interest::kWrite, *this);
}

void ClientConnection::fail_connect(int error) {
  worker_.stats().connect_errors[error]++;
  const ErrorKind kind = ErrorKind::kConnectFailed;
  close(&kind);
  worker_.on_connect_finished(local_index_, false);
}

void ClientConnection::finish_connect() {
  if (const int error = socket_error(fd_.get()); error != 0) return fail_connect(error);
  const std::int64_t now = now_ns();
  worker_.stats().connect_latency.record(static_cast<std::uint64_t>(now - connect_started_ns_));
  set_no_delay(fd_.get());
  const auto& options = worker_.options();
  try {
    if (input_.mapped()) {
      input_.clear();  // churn: the slot keeps its ring from one connection to the next
    } else {
      input_ = RingBuffer(worker_.input_capacity());
    }
    output_.resize(worker_.output_capacity());
  } catch (const std::system_error& e) {  // out of memory or of mappings (vm.max_map_count)
    return fail_connect(e.code().value());
  } catch (const std::bad_alloc&) {
    return fail_connect(ENOMEM);
  }
  state_ = State::kOpen;
  worker_.loop().set_interest(token_, Interest::kRead);
  worker_.on_connect_finished(local_index_, true);
  const bool resumed = std::exchange(resuming_, false);
  if (worker_.sending() && (!options.open_loop() || resumed)) pump(now);
}

void ClientConnection::close(const ErrorKind* reason) {
  if (state_ == State::kClosed) return;
  if (reason != nullptr) worker_.stats().count(*reason);
  if (token_ != 0) worker_.loop().remove_io(token_);
  token_ = 0;
  fd_.reset();
  const bool was_open = state_ == State::kOpen;
  state_ = State::kClosed;
  inflight_.clear();
  out_head_ = out_tail_ = 0;
  if (was_open) worker_.on_connection_closed();
}

void ClientConnection::on_io(const Event& event) {
  if (state_ == State::kConnecting) {
    finish_connect();
    return;
  }
  if (state_ != State::kOpen) return;
  if ((event.flags & (kEventReadable | kEventHangup | kEventError)) != 0) on_readable();
  if (state_ == State::kOpen && (event.flags & kEventWritable) != 0) {
    const std::int64_t now = now_ns();
    if (worker_.sending()) {
      pump(now);  // the socket drained: send what waited for room (open loop, discard)
    } else {
      flush(now);
    }
  }
}

void ClientConnection::on_readable() {
  std::span<std::byte> room = input_.writable();
  if (room.empty()) {
    // The ring holds more than any reply we asked for, yet no whole frame: a reply too long.
    const ErrorKind kind = ErrorKind::kReplyLength;
    return close(&kind);
  }
  const ssize_t n = ::recv(fd_.get(), room.data(), room.size(), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return fail_io(errno);
  }
  if (n == 0) {
    // The server closed. Before the window ends that is an error (unless --reconnect); after it,
    // the expected goodbye.
    if (worker_.sending() && worker_.options().reconnect) return resume_elsewhere();
    const ErrorKind kind = ErrorKind::kPeerClosed;
    return close(worker_.sending() ? &kind : nullptr);
  }
  input_.commit(static_cast<std::size_t>(n));
  const std::int64_t now = now_ns();
  ThreadStats& stats = worker_.stats();
  const bool in_window = worker_.in_window(now);
  if (in_window) stats.bytes_received += static_cast<std::uint64_t>(n);

  const std::uint64_t completed_before = stats.frames_total;
  for (;;) {
    const FrameView frame = decode_frame(input_.readable(), worker_.options().max_frame);
    if (frame.status == FrameStatus::kNeedMore) break;
    if (frame.status == FrameStatus::kTooLarge) {
      const ErrorKind kind = ErrorKind::kReplyTooLarge;
      return close(&kind);
    }
    on_reply(frame.payload, now);
    input_.consume(frame.needed);
  }
  if (in_window && stats.frames_total != completed_before) note_progress(now);
  if (worker_.options().churn && cycle_replied_ >= worker_.options().churn_frames) {
    return end_cycle(now);
  }
  if (worker_.sending()) pump(now);
}

void ClientConnection::end_cycle(std::int64_t now) {
  if (worker_.in_window(now)) ++worker_.stats().churn_cycles;
  if (worker_.options().churn_rst) {
    // A reset instead of a FIN: no TIME_WAIT keeps the port, so churn never runs out of them.
    const linger reset{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  close();
  if (worker_.sending()) worker_.reconnect(local_index_);
}

void ClientConnection::resume_elsewhere() {
  ThreadStats& stats = worker_.stats();
  ++stats.reconnects;
  stats.frames_resent += inflight_.in_flight();
  // A graceful close answered every frame the server read; the others go again, same sequence.
  inflight_.unsend_all();
  next_send_sequence_ = next_reply_sequence_;
  worker_.loop().remove_io(token_);
  token_ = 0;
  fd_.reset();
  out_head_ = out_tail_ = 0;
  state_ = State::kClosed;
  worker_.on_connection_closed();
  resuming_ = true;
  worker_.reconnect(local_index_);
}

void ClientConnection::fail_io(int error) {
  worker_.stats().socket_errors[error]++;
  const ErrorKind kind = ErrorKind::kSocketError;
  close(&kind);
}

void ClientConnection::on_reply(std::span<const std::byte> payload, std::int64_t now) {
  ThreadStats& stats = worker_.stats();
  if (inflight_.in_flight() == 0) {
    stats.count(ErrorKind::kReplyUnexpected);
    return;
  }
  const InflightQueue::Record request = inflight_.pop_oldest();
  const std::uint64_t sequence = next_reply_sequence_++;
  const auto& options = worker_.options();
  if (options.verify) {
    if (options.service == ServiceKind::kEcho) {
      switch (worker_.format().check_echo(payload, sequence,
                                          static_cast<std::uint64_t>(request.sent_ns))) {
        case ReplyCheck::kOk:
          break;
        case ReplyCheck::kLength:
          stats.count(ErrorKind::kReplyLength);
          break;
        case ReplyCheck::kSequence:
          stats.count(ErrorKind::kReplySequence);
          break;
        case ReplyCheck::kContent:
          stats.count(ErrorKind::kReplyContent);
          break;
      }
    } else if (payload.size() != options.reply_size) {
      // sized: the reply's bytes are the server's choice; its length is what was asked for.
      stats.count(ErrorKind::kReplyLength);
    }
  }
  ++stats.frames_total;
  if (options.churn && cycle_replied_++ == 0 && worker_.in_window(now)) {
    stats.first_reply.record(static_cast<std::uint64_t>(now - connect_started_ns_));
  }
  const auto from_scheduled = static_cast<std::uint64_t>(now - request.scheduled_ns);
  stats.live.record(from_scheduled);
  if (!worker_.in_window(now)) return;
  ++stats.frames_completed;
  ++frames_in_window_;
  stats.latency.record(from_scheduled);
  if (log_latency_) stats.logged.record(from_scheduled);
  stats.latency_from_send.record(static_cast<std::uint64_t>(now - request.sent_ns));
}

void ClientConnection::enqueue(std::int64_t scheduled_ns) {
  // Bound on one connection's backlog of due frames: 2^20 records (16 MiB) is minutes of a
  // stalled server at ordinary per-connection rates; past it frames are skipped and counted.
  constexpr std::size_t kMaxPendingFrames = std::size_t{1} << 20;
  if (state_ != State::kOpen && !resuming_) return;  // frames due while reconnecting wait
  if (inflight_.pending() >= kMaxPendingFrames) {
    worker_.stats().count(ErrorKind::kQueueOverflow);
    return;
  }
  inflight_.push_pending(scheduled_ns);
}

bool ClientConnection::output_room() const {
  return out_tail_ + worker_.format().request_frame_size() <= output_.size();
}

void ClientConnection::append_frame(std::int64_t now) {
  if (!output_room()) {  // only after a partial send: slide the unsent bytes to the front
    std::memmove(output_.data(), output_.data() + out_head_, out_tail_ - out_head_);
    out_tail_ -= out_head_;
    out_head_ = 0;
  }
  worker_.format().write_request(output_.data() + out_tail_, next_send_sequence_++,
                                 static_cast<std::uint64_t>(now));
  out_tail_ += worker_.format().request_frame_size();
  ThreadStats& stats = worker_.stats();
  if (worker_.in_window(now)) ++stats.frames_sent;
  if (!worker_.options().expects_replies()) {
    ++stats.frames_total;
    if (worker_.in_window(now)) ++frames_in_window_;
  }
}

void ClientConnection::pump(std::int64_t now) {
  if (state_ != State::kOpen) return;
  const auto& options = worker_.options();
  const std::size_t frame = worker_.format().request_frame_size();
  // Room for a frame counting the bytes a partial send left at the front (compacted on append).
  auto room = [&] { return output_.size() - (out_tail_ - out_head_) >= frame; };
  ThreadStats& stats = worker_.stats();
  if (!options.open_loop()) {
    if (options.expects_replies()) {
      const std::uint32_t cycle_limit = options.churn ? options.churn_frames : UINT32_MAX;
      // Frames due again after a --reconnect go first, with their sequence numbers.
      while (inflight_.pending() > 0 && room()) {
        inflight_.mark_sent(now);
        append_frame(now);
      }
      while (inflight_.in_flight() < options.depth && room() && cycle_sent_ < cycle_limit) {
        ++cycle_sent_;
        inflight_.push_sent(now);
        append_frame(now);
      }
    } else {
      while (room()) append_frame(now);  // discard: keep the socket full
    }
  } else {
    const std::size_t cap = options.expects_replies() ? options.depth : SIZE_MAX;
    while (inflight_.pending() > 0 && inflight_.in_flight() < cap && room()) {
      const auto& record = inflight_.mark_sent(now);
      if (worker_.in_window(now)) {
        stats.send_lateness.record(static_cast<std::uint64_t>(now - record.scheduled_ns));
      }
      append_frame(now);
      if (!options.expects_replies()) inflight_.pop_oldest();  // no reply will retire it
    }
  }
  flush(now);
}

void ClientConnection::flush(std::int64_t now) {
  while (out_head_ < out_tail_) {
    const ssize_t n =
        ::send(fd_.get(), output_.data() + out_head_, out_tail_ - out_head_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return fail_io(errno);
    }
    out_head_ += static_cast<std::size_t>(n);
    if (worker_.in_window(now)) {
      worker_.stats().bytes_sent += static_cast<std::uint64_t>(n);
      // Discard has no replies: bytes taken by the kernel are its progress.
      if (!worker_.options().expects_replies()) note_progress(now);
    }
  }
  const bool pending = out_head_ < out_tail_;
  if (!pending) out_head_ = out_tail_ = 0;
  // Discard, closed loop: the socket is kept full, so ask to hear when it drains.
  const bool refill =
      !worker_.options().expects_replies() && !worker_.options().open_loop() && worker_.sending();
  const bool want_write = pending || refill;
  if (want_write != want_write_) {
    want_write_ = want_write;
    worker_.loop().set_interest(token_, want_write ? Interest::kReadWrite : Interest::kRead);
  }
}

void ClientConnection::note_progress(std::int64_t now) {
  if (last_progress_ns_ < worker_.window_start()) last_progress_ns_ = worker_.window_start();
  max_gap_ns_ = std::max(max_gap_ns_, now - last_progress_ns_);
  last_progress_ns_ = now;
}

void ClientConnection::close_gap(std::int64_t now) {
  const std::int64_t from = std::max(last_progress_ns_, worker_.window_start());
  max_gap_ns_ = std::max(max_gap_ns_, now - from);
}

}  // namespace ringwire::load
