#include "metrics_endpoint.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>

namespace ringwire {
std::string render_metrics(const std::vector<StatsSnapshot>& per_loop) {
  std::string out;
  for (std::size_t row = 0; row < kCounterCount; ++row) {
    const CounterInfo& counter = kCounters[row];
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", counter.metric, counter.help, counter.metric,
                       to_string(counter.type));
    for (std::size_t loop = 0; loop < per_loop.size(); ++loop) {
      out +=
          fmt::format("{}{{loop=\"{}\"}} {}\n", counter.metric, loop, per_loop[loop].values[row]);
    }
  }
  out +=
      fmt::format("# HELP {} {}\n# TYPE {} counter\n", kClosedMetric, kClosedHelp, kClosedMetric);
  for (std::size_t loop = 0; loop < per_loop.size(); ++loop) {
    for (std::size_t reason = 0; reason < kCloseReasonCount; ++reason) {
      out +=
          fmt::format("{}{{loop=\"{}\",reason=\"{}\"}} {}\n", kClosedMetric, loop,
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
