#pragma once
// PipePool: lends kernel pipes to the connections of one loop for splice(2) pass-through (see
// connection.h), and takes them back once empty. Owned by its loop's server part; loop thread only.
//
// A pipe costs two descriptors and, while it holds bytes, references to the socket buffers' pages
// (no copy). A connection borrows one only while a large frame is in transit, so an idle or
// small-frame connection holds none. acquire and release are O(1) (a vector pop/push) unless the
// free list is empty (pipe2 + two fcntl calls) or full (two close calls).

#include <cstddef>
#include <vector>

#include "ringwire/unique_fd.h"

namespace ringwire {

// Pipe: one kernel pipe, both ends non-blocking. Owns both descriptors; movable.
class Pipe {
 public:
  Pipe() = default;
  bool valid() const { return read_.valid(); }
  int read_fd() const { return read_.get(); }
  int write_fd() const { return write_.get(); }
  // Bytes the pipe holds at most (F_GETPIPE_SZ); fewer when the bytes arrive in small pieces,
  // since each piece takes one of its capacity / page-size slots.
  std::size_t capacity() const { return capacity_; }

 private:
  friend class PipePool;
  UniqueFd read_;
  UniqueFd write_;
  std::size_t capacity_ = 0;
};

class PipePool {
 public:
  // Asked of F_SETPIPE_SZ: room for the largest frame a connection passes through (a frame is
  // held in its pipe until it is whole). 256 KiB: 64 slots; a user may hold 64 MiB of pipe pages
  // before the kernel shrinks new pipes (fs.pipe-user-pages-soft), so ~256 frames in transit.
  static constexpr std::size_t kPipeCapacity = 256 * 1024;
  // Empty pipes kept for reuse (two descriptors each); more are closed on release.
  static constexpr std::size_t kMaxCached = 32;

  PipePool() = default;
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // An empty pipe, or an invalid one when none can be made (EMFILE, ENFILE): the caller then
  // keeps to the ring path. Its capacity may be below kPipeCapacity where the kernel refused.
  Pipe acquire();
  // Takes back a pipe that holds no bytes. (A pipe with bytes is simply destroyed instead.)
  void release(Pipe pipe);

  std::size_t cached() const { return free_.size(); }

 private:
  std::vector<Pipe> free_;
};

}  // namespace ringwire
