#include "ringwire/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace ringwire {

Pipe PipePool::acquire() {
  if (!free_.empty()) {
    Pipe pipe = std::move(free_.back());
    free_.pop_back();
    return pipe;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  Pipe pipe;
  pipe.read_.reset(fds[0]);
  pipe.write_.reset(fds[1]);
  // Refused (over fs.pipe-max-size or the user's pipe pages): keep the default size.
  (void)::fcntl(pipe.write_fd(), F_SETPIPE_SZ, static_cast<int>(kPipeCapacity));
  const int size = ::fcntl(pipe.write_fd(), F_GETPIPE_SZ);
  if (size <= 0) return {};
  pipe.capacity_ = static_cast<std::size_t>(size);
  return pipe;
}

void PipePool::release(Pipe pipe) {
  if (pipe.valid() && free_.size() < kMaxCached) free_.push_back(std::move(pipe));
}

}  // namespace ringwire
