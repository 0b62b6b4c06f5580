#include "metrics_endpoint.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>

#include "process_metrics.h"

namespace ringwire {
namespace {

// Prometheus label values escape backslash, quote and newline.
std::string label_value(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void render_histogram(std::string& out, const HistogramInfo& info, std::size_t row,
                      const std::vector<StatsSnapshot>& per_loop) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} histogram\n", info.metric,
                 info.help, info.metric);
  for (std::size_t loop = 0; loop < per_loop.size(); ++loop) {
    const HistogramSnapshot& histogram = per_loop[loop].histograms[row];
    std::uint64_t cumulative = 0;
    for (std::size_t bucket = 0; bucket < info.layout.buckets; ++bucket) {
      cumulative += histogram.counts[bucket];
      const double bound = static_cast<double>(info.layout.upper_bound(bucket)) / info.per_unit;
      fmt::format_to(std::back_inserter(out), "{}_bucket{{loop=\"{}\",le=\"{}\"}} {}\n",
                     info.metric, loop, bound, cumulative);
    }
    cumulative += histogram.counts[info.layout.buckets];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{loop=\"{}\",le=\"+Inf\"}} {}\n",
                   info.metric, loop, cumulative);
    fmt::format_to(std::back_inserter(out), "{}_sum{{loop=\"{}\"}} {}\n", info.metric, loop,
                   static_cast<double>(histogram.sum) / info.per_unit);
    fmt::format_to(std::back_inserter(out), "{}_count{{loop=\"{}\"}} {}\n", info.metric, loop,
                   cumulative);
  }
}

}  // namespace

std::string render_metrics(const std::vector<StatsSnapshot>& per_loop, const BuildLabels& build) {
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
  for (std::size_t row = 0; row < kHistogramCount; ++row) {
    render_histogram(out, kHistograms[row], row, per_loop);
  }
  out += fmt::format(
      "# HELP ringwire_build_info The build that serves: version, git commit, engine, backend\n"
      "# TYPE ringwire_build_info gauge\n"
      "ringwire_build_info{{version=\"{}\",commit=\"{}\",engine=\"{}\",backend=\"{}\"}} 1\n",
      label_value(build.version), label_value(build.commit), label_value(build.engine),
      label_value(build.backend));
  render_process_metrics(out);
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
        respond("431 Request Header Fields Too Large", "", "request too large\n", true);
      } else if (request_.find("\r\n\r\n") == std::string::npos &&
                 request_.find("\n\n") == std::string::npos) {
        return;  // the head is not complete yet
      } else {
        answer();
      }
      owner_.loop_.set_interest(token_, Interest::kWrite);
    }
    write_some();
  }

 private:
  // The request line: "METHOD TARGET HTTP/1.x"; the target's query string is ignored.
  void answer() {
    const std::string_view head(request_);
    const std::size_t method_end = head.find(' ');
    const std::string_view method = head.substr(0, method_end);
    std::string_view target;
    if (method_end != std::string_view::npos) {
      target = head.substr(method_end + 1);
      target = target.substr(0, target.find_first_of(" \r\n"));
    }
    const std::string_view path = target.substr(0, target.find('?'));
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) {
      respond("405 Method Not Allowed", "Allow: GET, HEAD\r\n", "use GET or HEAD\n", false);
    } else if (path == "/metrics" || path == "/") {
      respond("200 OK", "", render_metrics(owner_.snapshot_(), owner_.build_), head_only);
    } else if (path == "/healthz") {
      if (owner_.draining_) {
        respond("503 Service Unavailable", "", "draining\n", head_only);
      } else {
        respond("200 OK", "", "serving\n", head_only);
      }
    } else {
      respond("404 Not Found", "", "try GET /metrics or /healthz\n", head_only);
    }
  }
  void respond(std::string_view status, std::string_view extra_headers, const std::string& body,
               bool head_only) {
    response_ = fmt::format(
        "HTTP/1.0 {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
        "Content-Length: {}\r\n{}Connection: close\r\n\r\n",
        status, body.size(), extra_headers);
    if (!head_only) response_ += body;
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

MetricsEndpoint::MetricsEndpoint(EventLoop& loop, const SocketAddress& address, BuildLabels build,
                                 std::function<std::vector<StatsSnapshot>()> snapshot)
    : loop_(loop), build_(std::move(build)), snapshot_(std::move(snapshot)) {
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
