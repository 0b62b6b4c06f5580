#pragma once
// Listener handover: how a new ringwire-server takes over the listening sockets of the one it
// replaces, so a restart closes no listening socket in the kernel and no connection waiting in an
// accept queue is reset (HAProxy's and Envoy's way). The serving process offers its listeners on a
// unix socket (--handover PATH); a new process started with the same PATH connects, receives them
// (SCM_RIGHTS) and serves them, then offers them at PATH itself. The old one, told to drain, closes
// only its own descriptors: the sockets live on in the new process.
//
// Wire: the offering side sends a 4-byte count N (host order, same machine), then the N descriptors
// in messages of one byte each carrying up to kFdsPerMessage of them. N is 0 while it drains.

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "ringwire/event_loop.h"
#include "ringwire/unique_fd.h"

namespace ringwire {

// The listening sockets offered at `path` (the caller owns them), or none when nothing offers them
// there (no such socket, nobody listening, or the offering process is draining). Throws
// std::system_error (one line) when an exchange starts and breaks.
std::vector<int> take_listeners(const std::string& path);

// Offers `listeners()` at `path` (the owner only: mode 0600) on `loop`, replacing whatever socket
// file was there. Removes the file when destroyed unless a successor has replaced it.
class ListenerOffer final : public IoHandler {
 public:
  ListenerOffer(EventLoop& loop, std::string path, std::function<std::vector<int>()> listeners);
  ~ListenerOffer();
  ListenerOffer(const ListenerOffer&) = delete;
  ListenerOffer& operator=(const ListenerOffer&) = delete;
  void on_io(const Event& event) override;

 private:
  EventLoop& loop_;
  std::string path_;
  std::function<std::vector<int>()> listeners_;
  UniqueFd socket_;
  ino_t inode_ = 0;  // of the file we bound, to tell whether it is still ours
  IoToken token_ = 0;
};

}  // namespace ringwire
