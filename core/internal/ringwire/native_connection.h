#pragma once
// NativeConnection: what a native server loop holds of one accepted socket, whatever moves its
// bytes: the readiness transport (Connection: epoll, or io_uring polls) or the completion
// transport (UringConnection: io_uring operations). Owned by its loop's server part, which
// destroys it when the connection reports itself closed; loop thread only.

#include <cstddef>

#include "ringwire/stats.h"

namespace ringwire {

class NativeConnection {
 public:
  virtual ~NativeConnection() = default;

  virtual void start() = 0;
  // The server is draining: as soon as nothing is unread, partial or unsent, shut the write side
  // and close once the peer has closed too (or the linger deadline passes).
  virtual void begin_drain() = 0;
  // Closes now (drain timeout, shutdown); the owner's on_closed has run when this returns.
  virtual void abort(CloseReason reason) = 0;

  std::size_t index_in_owner = 0;  // the owner's bookkeeping (O(1) removal)
};

}  // namespace ringwire
