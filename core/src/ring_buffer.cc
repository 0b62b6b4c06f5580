#include "ringwire/ring_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <system_error>
#include <utility>

namespace ringwire {
namespace {

std::size_t round_capacity(std::size_t min_capacity) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return std::bit_ceil(std::max(min_capacity, page));
}

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

RingBuffer::RingBuffer(std::size_t min_capacity) {
  const std::size_t capacity = round_capacity(min_capacity);
  // Reserve 2*capacity of address space, put shared anonymous pages in the first half, then map
  // the same pages again over the second half: mremap() with old_size 0 duplicates a shared
  // mapping. Unlike a memfd this needs no file descriptor, not even for a moment, so a loop can
  // still lend rings to its connections while the process is out of descriptors (EMFILE).
  void* reserved = ::mmap(nullptr, 2 * capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (reserved == MAP_FAILED) fail("mmap reserve");
  auto* base = static_cast<std::byte*>(reserved);
  const auto undo = [&](const char* what) {
    const int error = errno;
    ::munmap(reserved, 2 * capacity);
    errno = error;
    fail(what);
  };
  if (::mmap(base, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1,
             0) == MAP_FAILED) {
    undo("mmap ring");
  }
  if (::mremap(base, 0, capacity, MREMAP_MAYMOVE | MREMAP_FIXED, base + capacity) == MAP_FAILED) {
    undo("mremap mirror");
  }
  base_ = base;
  capacity_ = capacity;
}

RingBuffer::RingBuffer(RingBuffer&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      read_(std::exchange(other.read_, 0)),
      write_(std::exchange(other.write_, 0)) {}

RingBuffer& RingBuffer::operator=(RingBuffer&& other) noexcept {
  if (this != &other) {
    unmap();
    base_ = std::exchange(other.base_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    read_ = std::exchange(other.read_, 0);
    write_ = std::exchange(other.write_, 0);
  }
  return *this;
}

RingBuffer::~RingBuffer() { unmap(); }

void RingBuffer::unmap() {
  if (base_ != nullptr) ::munmap(base_, 2 * capacity_);
  base_ = nullptr;
  capacity_ = 0;
  read_ = write_ = 0;
}

}  // namespace ringwire
