// uv_echo_reference: "libuv done well" — a minimal single-file framed echo server on one libuv
// loop, the yardstick for the uv engine (which adds the product's features: services, limits,
// idle timeout, drain, counters). Usage: uv_echo_reference --port N; prints
// "listening on 127.0.0.1:PORT" once ready and serves until killed.
//
// The usual libuv recipe: one buffer per connection, reused; libuv reads into its free tail;
// every complete frame in it is echoed with one uv_try_write of one slice (no copy, no request);
// only the bytes the socket refuses are copied into a uv_write request; reading pauses while
// more than kMaxQueued bytes are queued.

#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "ringwire/frame.h"

namespace {

constexpr std::size_t kInitialBuffer = 64 * 1024;  // one socket read's worth
constexpr std::size_t kMaxQueued = 1024 * 1024;    // pause reading above this much queued output

// Client: one accepted connection. Owns its handle and buffer; freed in its close callback.
struct Client {
  uv_tcp_t tcp;
  std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(kInitialBuffer);
  std::size_t capacity = kInitialBuffer;
  std::size_t begin = 0;   // first byte not yet echoed
  std::size_t end = 0;     // end of the received bytes
  std::size_t queued = 0;  // bytes handed to uv_write and not yet written
};

// WriteRequest: a copy of what uv_try_write could not send. Owned by libuv until its callback.
struct WriteRequest {
  uv_write_t request;
  Client* client;
  std::unique_ptr<char[]> bytes;
  std::size_t size;
};

void on_closed(uv_handle_t* handle) { delete static_cast<Client*>(handle->data); }

void close_client(Client* client) {
  auto* handle = reinterpret_cast<uv_handle_t*>(&client->tcp);
  if (!uv_is_closing(handle)) uv_close(handle, on_closed);
}

void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  Client* c = static_cast<Client*>(handle->data);
  if (c->begin > 0 && c->capacity - c->end < c->capacity / 2) {  // move the partial frame down
    std::memmove(c->buffer.get(), c->buffer.get() + c->begin, c->end - c->begin);
    c->end -= c->begin;
    c->begin = 0;
  }
  if (c->end == c->capacity) {  // one frame larger than the buffer: double it
    auto larger = std::make_unique_for_overwrite<char[]>(2 * c->capacity);
    std::memcpy(larger.get(), c->buffer.get(), c->end);
    c->buffer = std::move(larger);
    c->capacity *= 2;
  }
  *buf = uv_buf_init(c->buffer.get() + c->end, static_cast<unsigned>(c->capacity - c->end));
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

void on_written(uv_write_t* request, int status) {
  std::unique_ptr<WriteRequest> write(reinterpret_cast<WriteRequest*>(request));
  Client* c = write->client;
  if (status < 0) return;  // the read side sees the error and closes
  c->queued -= write->size;
  if (c->queued <= kMaxQueued / 4) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
  }
}

void echo_complete_frames(Client* c) {
  std::size_t decoded = c->begin;
  while (c->end - decoded >= ringwire::kFrameHeaderSize) {
    const std::uint32_t length =
        ringwire::load_be32(reinterpret_cast<const std::byte*>(c->buffer.get() + decoded));
    if (length > ringwire::kDefaultMaxFrame) return close_client(c);
    if (c->end - decoded < ringwire::kFrameHeaderSize + length) break;
    decoded += ringwire::kFrameHeaderSize + length;
  }
  if (decoded == c->begin) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
  uv_buf_t slice =
      uv_buf_init(c->buffer.get() + c->begin, static_cast<unsigned>(decoded - c->begin));
  int sent = c->queued == 0 ? uv_try_write(stream, &slice, 1) : UV_EAGAIN;
  if (sent == UV_EAGAIN) sent = 0;
  if (sent < 0) return close_client(c);
  if (static_cast<std::size_t>(sent) < slice.len) {
    auto write = std::make_unique<WriteRequest>();
    write->client = c;
    write->size = slice.len - static_cast<std::size_t>(sent);
    write->bytes = std::make_unique_for_overwrite<char[]>(write->size);
    std::memcpy(write->bytes.get(), slice.base + sent, write->size);
    uv_buf_t rest = uv_buf_init(write->bytes.get(), static_cast<unsigned>(write->size));
    if (uv_write(&write->request, stream, &rest, 1, on_written) != 0) return close_client(c);
    c->queued += write->size;
    write.release();  // libuv holds it until on_written
    if (c->queued > kMaxQueued) uv_read_stop(stream);
  }
  c->begin = decoded;
  if (c->begin == c->end) c->begin = c->end = 0;
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  Client* c = static_cast<Client*>(stream->data);
  if (nread < 0) return close_client(c);
  c->end += static_cast<std::size_t>(nread);
  echo_complete_frames(c);
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* c = new Client;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return close_client(c);
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 7000;
  if (argc == 3 && std::string(argv[1]) == "--port") port = std::atoi(argv[2]);
  signal(SIGPIPE, SIG_IGN);  // libuv writes with writev(): a reset peer must not kill us
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in address;
  uv_ip4_addr("127.0.0.1", port, &address);
  if (uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&address), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_connection) != 0) {
    std::fprintf(stderr, "uv_echo_reference: cannot listen on port %d\n", port);
    return 1;
  }
  sockaddr_storage bound;
  int length = sizeof bound;
  uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &length);
  std::printf("listening on 127.0.0.1:%d\n",
              ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
  std::fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
