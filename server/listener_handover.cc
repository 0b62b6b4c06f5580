#include "listener_handover.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "ringwire/log.h"

namespace ringwire {
namespace {

constexpr std::size_t kFdsPerMessage = 200;  // the kernel takes at most 253 (SCM_MAX_FD)
constexpr int kTimeoutMs = 5000;

[[noreturn]] void fail(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) fail(ENAMETOOLONG, "--handover " + path);
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// Room for one message's descriptors.
struct FdControl {
  alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int) * kFdsPerMessage)];
};

// A message of the one byte in `data`, with `control_length` bytes of `control`.
msghdr one_byte_message(iovec& data, FdControl& control, std::size_t control_length) {
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control.bytes;
  message.msg_controllen = control_length;
  return message;
}

// One message: its descriptors appended to `fds` (close-on-exec).
bool receive_message(int socket, std::vector<int>& fds) {
  char byte = 0;
  iovec data{&byte, 1};
  FdControl control;
  msghdr message = one_byte_message(data, control, sizeof control.bytes);
  pollfd ready{socket, POLLIN, 0};
  if (::poll(&ready, 1, kTimeoutMs) != 1) return false;
  if (::recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1) return false;
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const auto* first = reinterpret_cast<const int*>(CMSG_DATA(header));
    fds.insert(fds.end(), first, first + count);
  }
  return (message.msg_flags & MSG_CTRUNC) == 0;
}

bool send_fds(int socket, const int* fds, std::size_t count) {
  char byte = 'L';
  iovec data{&byte, 1};
  FdControl control;
  msghdr message = one_byte_message(data, control, CMSG_SPACE(sizeof(int) * count));
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * count);
  std::memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
  return ::sendmsg(socket, &message, MSG_NOSIGNAL) == 1;
}

}  // namespace

std::vector<int> take_listeners(const std::string& path) {
  const sockaddr_un address = unix_address(path);
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) fail(errno, "--handover: socket");
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) return {};  // nobody offers: bind our own
    fail(errno, "--handover: connect " + path);
  }
  std::uint32_t count = 0;
  pollfd ready{socket.get(), POLLIN, 0};
  if (::poll(&ready, 1, kTimeoutMs) != 1 ||
      ::recv(socket.get(), &count, sizeof count, MSG_WAITALL) != sizeof count) {
    fail(EPROTO, "--handover: no answer from the process at " + path);
  }
  std::vector<int> fds;
  while (fds.size() < count) {
    if (!receive_message(socket.get(), fds)) {
      for (const int fd : fds) ::close(fd);
      fail(EPROTO, "--handover: the listening sockets from " + path + " did not all arrive");
    }
  }
  return fds;
}

ListenerOffer::ListenerOffer(EventLoop& loop, std::string path,
                             std::function<std::vector<int>()> listeners)
    : loop_(loop), path_(std::move(path)), listeners_(std::move(listeners)) {
  const sockaddr_un address = unix_address(path_);
  socket_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_) fail(errno, "--handover: socket");
  // The predecessor's socket file (or a stale one) gives way: from now on successors come to us.
  // Anything else at `path` is not ours to remove: bind then fails with EADDRINUSE.
  struct stat existing {};
  if (::lstat(path_.c_str(), &existing) == 0 && S_ISSOCK(existing.st_mode)) ::unlink(path_.c_str());
  if (::bind(socket_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    fail(errno, "--handover: bind " + path_);
  }
  // Whoever connects gets our listening sockets: the owner only.
  if (::chmod(path_.c_str(), 0600) != 0) fail(errno, "--handover: chmod " + path_);
  struct stat file {};
  if (::stat(path_.c_str(), &file) == 0) inode_ = file.st_ino;
  if (::listen(socket_.get(), 16) != 0) fail(errno, "--handover: listen " + path_);
  token_ = loop_.add_io(socket_.get(), Interest::kRead, *this);
}

ListenerOffer::~ListenerOffer() {
  loop_.remove_io(token_);
  struct stat file {};
  if (::stat(path_.c_str(), &file) == 0 && file.st_ino == inode_) ::unlink(path_.c_str());
}

void ListenerOffer::on_io(const Event&) {
  while (true) {
    UniqueFd peer(::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!peer) return;  // EAGAIN: no one else waiting
    // The file is the owner's only (0600), but it was not between bind and chmod: check the peer.
    ucred peer_user{};
    socklen_t length = sizeof peer_user;
    if (::getsockopt(peer.get(), SOL_SOCKET, SO_PEERCRED, &peer_user, &length) != 0 ||
        peer_user.uid != ::geteuid()) {
      log(LogLevel::kWarn, "--handover: refused a process of user {} at {}", peer_user.uid, path_);
      continue;
    }
    const std::vector<int> fds = listeners_();
    const auto count = static_cast<std::uint32_t>(fds.size());
    bool sent = ::send(peer.get(), &count, sizeof count, MSG_NOSIGNAL) == sizeof count;
    for (std::size_t i = 0; sent && i < fds.size(); i += kFdsPerMessage) {
      sent = send_fds(peer.get(), fds.data() + i, std::min(kFdsPerMessage, fds.size() - i));
    }
    if (!sent) {
      log(LogLevel::kWarn, "--handover: sending the listening sockets: {}", std::strerror(errno));
    } else if (count > 0) {
      log(LogLevel::kInfo, "handed {} listening socket(s) over at {}", count, path_);
    }
  }
}

}  // namespace ringwire
