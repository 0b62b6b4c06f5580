#include "metrics_endpoint.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>

namespace ringwire {
namespace {

struct CounterInfo {
  const char* name;
  const char* help;
  const char* type;
  std::uint64_t StatsSnapshot::*field;
};

constexpr CounterInfo kCounters[] = {
    {"ringwire_connections_accepted_total", "Connections accepted", "counter",
     &StatsSnapshot::connections_accepted},
    {"ringwire_connections_open", "Connections open now", "gauge",
     &StatsSnapshot::connections_open},
    {"ringwire_frames_received_total", "Complete frames received", "counter",
     &StatsSnapshot::frames_received},
    {"ringwire_bytes_received_total", "Bytes received", "counter", &StatsSnapshot::bytes_received},
    {"ringwire_bytes_sent_total", "Bytes sent", "counter", &StatsSnapshot::bytes_sent},
    {"ringwire_frames_oversized_total", "Frames whose length exceeded --max-frame", "counter",
     &StatsSnapshot::frames_oversized},
    {"ringwire_trailing_bytes_dropped_total", "Bytes of incomplete frames dropped at close",
     "counter", &StatsSnapshot::trailing_bytes_dropped},
    {"ringwire_backpressure_pauses_total", "Times reading paused for unsent output", "counter",
     &StatsSnapshot::backpressure_pauses},
    {"ringwire_accept_errors_total", "Failed accepts (EMFILE, ENFILE, ...)", "counter",
     &StatsSnapshot::accept_errors},
    {"ringwire_accept_pauses_total", "Times accepting paused for lack of descriptors", "counter",
     &StatsSnapshot::accept_pauses},
    {"ringwire_connections_shed_total",
     "Connections accepted and closed at once for lack of descriptors", "counter",
     &StatsSnapshot::connections_shed},
    {"ringwire_ring_bytes_lent", "Ring buffer bytes held by connections now", "gauge",
     &StatsSnapshot::ring_bytes_lent},
    {"ringwire_frames_passed_through_total", "Large echoed frames moved with splice(2)", "counter",
     &StatsSnapshot::frames_passed_through},
    {"ringwire_pass_through_spills_total", "Passed-through frames moved back to a ring buffer",
     "counter", &StatsSnapshot::pass_through_spills},
};

}  // namespace

std::string render_metrics(const std::vector<StatsSnapshot>& per_loop) {
  std::string out;
  for (const CounterInfo& counter : kCounters) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", counter.name, counter.help, counter.name,
                       counter.type);
    for (std::size_t loop = 0; loop < per_loop.size(); ++loop) {
      out +=
          fmt::format("{}{{loop=\"{}\"}} {}\n", counter.name, loop, per_loop[loop].*counter.field);
    }
  }
  out +=
      "# HELP ringwire_connections_closed_total Connections closed, by reason\n"
      "# TYPE ringwire_connections_closed_total counter\n";
  for (std::size_t loop = 0; loop < per_loop.size(); ++loop) {
    for (std::size_t reason = 0; reason < kCloseReasonCount; ++reason) {
      out +=
          fmt::format("ringwire_connections_closed_total{{loop=\"{}\",reason=\"{}\"}} {}\n", loop,
                      to_string(static_cast<CloseReason>(reason)), per_loop[loop].closed[reason]);
    }
  }
  return out;
}

// Request: one scraper connection. Reads the request head, writes the whole response, closes.
class MetricsEndpoint::Request final : public IoHandler {
 public:
  Request(MetricsEndpoint& owner, UniqueFd socket) : owner_(owner), socket_(std::move(socket)) {
    token_ = owner_.loop_.add_io(socket_.get(), Interest::kRead, *this);
    timer_ = owner_.loop_.add_timer_after(kRequestTimeout, [this] {
      timer_ = kNoTimer;
      done();
    });
  }
  ~Request() {
    owner_.loop_.cancel_timer(timer_);
    owner_.loop_.remove_io(token_);
  }
  std::size_t index = 0;

  void on_io(const Event&) override {
    if (response_.empty()) {
      char buffer[1024];
      const ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) return done();
      request_.append(buffer, static_cast<std::size_t>(n));
      if (request_.size() > kMaxRequestBytes) {
        respond("431 Request Header Fields Too Large", "request too large\n");
      } else if (request_.find("\r\n\r\n") == std::string::npos &&
                 request_.find("\n\n") == std::string::npos) {
        return;  // the head is not complete yet
      } else if (request_.starts_with("GET /metrics ") || request_.starts_with("GET / ")) {
        respond("200 OK", render_metrics(owner_.snapshot_()));
      } else {
        respond("404 Not Found", "try GET /metrics\n");
      }
      owner_.loop_.set_interest(token_, Interest::kWrite);
    }
    write_some();
  }

 private:
  void respond(std::string_view status, const std::string& body) {
    response_ = fmt::format(
        "HTTP/1.0 {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
        "Connection: close\r\n\r\n{}",
        status, body.size(), body);
  }
  void write_some() {
    const ssize_t n =
        ::send(socket_.get(), response_.data() + sent_, response_.size() - sent_, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return done();
    sent_ += static_cast<std::size_t>(n);
    if (sent_ == response_.size()) done();
  }
  void done() { owner_.finished(*this); }  // destroys this: nothing may follow

  MetricsEndpoint& owner_;
  UniqueFd socket_;
  IoToken token_ = 0;
  TimerId timer_ = kNoTimer;
  std::string request_;
  std::string response_;
  std::size_t sent_ = 0;
};

MetricsEndpoint::MetricsEndpoint(EventLoop& loop, const SocketAddress& address,
                                 std::function<std::vector<StatsSnapshot>()> snapshot)
    : loop_(loop), snapshot_(std::move(snapshot)) {
  UniqueFd socket = make_listen_socket(address, /*reuse_port=*/false);
  address_ = local_address(socket.get());
  listener_ = std::make_unique<Listener>(loop, std::move(socket), *this, own_stats_);
  listener_->start();
}

MetricsEndpoint::~MetricsEndpoint() {
  requests_.clear();
  listener_.reset();
}

void MetricsEndpoint::on_accepted(UniqueFd socket, const SocketAddress&) {
  auto request = std::make_unique<Request>(*this, std::move(socket));
  request->index = requests_.size();
  requests_.push_back(std::move(request));
}

void MetricsEndpoint::finished(Request& request) {
  const std::size_t index = request.index;
  if (index != requests_.size() - 1) {
    std::swap(requests_[index], requests_.back());
    requests_[index]->index = index;
  }
  requests_.pop_back();
}

}  // namespace ringwire
