#include "poller/uring_buffers.h"

#include <sys/mman.h>

#include <cerrno>
#include <system_error>

namespace ringwire {

UringBuffers::UringBuffers(io_uring& ring, unsigned count) : ring_(ring), count_(count) {
  // The ring of descriptors (16 bytes each, page-aligned) and the buffers, in one mapping.
  const std::size_t entries_size = std::size_t{count_} * sizeof(io_uring_buf);
  mapping_size_ = entries_size + std::size_t{count_} * kSize;
  mapping_ =
      ::mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) {
    mapping_ = nullptr;
    throw std::system_error(errno, std::generic_category(), "mmap provided buffers");
  }
  entries_ = static_cast<io_uring_buf_ring*>(mapping_);
  base_ = static_cast<std::byte*>(mapping_) + entries_size;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(entries_);
  reg.ring_entries = count_;
  reg.bgid = kGroup;
  if (const int rc = ::io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
    ::munmap(mapping_, mapping_size_);
    mapping_ = nullptr;
    throw std::system_error(-rc, std::generic_category(), "io_uring_register_buf_ring");
  }
  ::io_uring_buf_ring_init(entries_);
  for (unsigned id = 0; id < count_; ++id) give_back(static_cast<std::uint16_t>(id));
  publish();
}

UringBuffers::~UringBuffers() {
  ::io_uring_unregister_buf_ring(&ring_, kGroup);
  ::munmap(mapping_, mapping_size_);
}

void UringBuffers::give_back(std::uint16_t id) {
  ::io_uring_buf_ring_add(entries_, base_ + std::size_t{id} * kSize, kSize, id,
                          ::io_uring_buf_ring_mask(count_), queued_++);
}

void UringBuffers::publish() {
  if (queued_ == 0) return;
  ::io_uring_buf_ring_advance(entries_, queued_);
  queued_ = 0;
}

}  // namespace ringwire
