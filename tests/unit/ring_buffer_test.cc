#include "ringwire/ring_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "ringwire/ring_pool.h"

namespace ringwire {
namespace {

TEST(RingBufferTest, CapacityIsAPowerOfTwoOfWholePages) {
  RingBuffer ring(5000);
  EXPECT_EQ(ring.capacity(), 8192u);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.writable().size(), 8192u);
}

TEST(RingBufferTest, SecondMappingMirrorsTheFirst) {
  RingBuffer ring(4096);
  auto* base = ring.writable().data();
  base[10] = std::byte{0x5a};
  EXPECT_EQ(base[ring.capacity() + 10], std::byte{0x5a});
  base[ring.capacity() + 20] = std::byte{0x33};
  EXPECT_EQ(base[20], std::byte{0x33});
}

TEST(RingBufferTest, RegionsStayContiguousAcrossTheWrap) {
  RingBuffer ring(4096);
  const std::size_t cap = ring.capacity();
  const std::byte* base = ring.writable().data();
  // Move the positions to 100 bytes before the end, then write 300 bytes across the wrap.
  ring.commit(cap - 100);
  ring.consume(cap - 101);  // keep one byte so the positions do not reset
  ASSERT_EQ(ring.size(), 1u);
  std::vector<std::byte> data(300);
  std::iota(reinterpret_cast<unsigned char*>(data.data()),
            reinterpret_cast<unsigned char*>(data.data()) + data.size(), 0);
  auto room = ring.writable();
  ASSERT_EQ(room.size(), cap - 1);
  std::memcpy(room.data(), data.data(), data.size());
  ring.commit(data.size());
  ring.consume(1);
  const auto readable = ring.readable();
  ASSERT_EQ(readable.size(), 300u);
  EXPECT_EQ(std::memcmp(readable.data(), data.data(), data.size()), 0);
  // The readable span really crosses the end of the first mapping.
  EXPECT_LT(readable.data(), base + cap);
  EXPECT_GT(readable.data() + readable.size(), base + cap);
  ring.consume(300);
  EXPECT_TRUE(ring.empty());
}

TEST(RingBufferTest, FullAndEmptyAreExact) {
  RingBuffer ring(4096);
  ring.commit(ring.capacity());
  EXPECT_TRUE(ring.full());
  EXPECT_EQ(ring.free_space(), 0u);
  EXPECT_EQ(ring.writable().size(), 0u);
  ring.consume(ring.capacity());
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.free_space(), ring.capacity());
}

TEST(RingBufferTest, MovedFromRingHoldsNoMapping) {
  RingBuffer a(4096);
  RingBuffer b = std::move(a);
  EXPECT_FALSE(a.mapped());
  EXPECT_TRUE(b.mapped());
  EXPECT_EQ(a.capacity(), 0u);
}

TEST(RingPoolTest, ReleasedRingIsReusedWithoutANewMapping) {
  RingPool pool;
  RingBuffer ring = pool.acquire();
  const std::byte* base = ring.writable().data();
  ring.commit(10);
  pool.release(std::move(ring));
  EXPECT_EQ(pool.stats().rings_cached, 1u);
  RingBuffer again = pool.acquire();
  EXPECT_EQ(again.writable().data(), base);
  EXPECT_TRUE(again.empty());  // released rings come back clear
  EXPECT_EQ(pool.stats().rings_mapped, 1u);
  EXPECT_EQ(pool.stats().rings_lent, 1u);
}

TEST(RingPoolTest, SizeClassesAreKeptApart) {
  RingPool pool;
  RingBuffer big = pool.acquire(RingPool::kMinRingCapacity * 4);
  EXPECT_EQ(big.capacity(), RingPool::kMinRingCapacity * 4);
  pool.release(std::move(big));
  RingBuffer small = pool.acquire();
  EXPECT_EQ(small.capacity(), RingPool::kMinRingCapacity);
  EXPECT_EQ(pool.stats().rings_mapped, 2u);
}

TEST(RingPoolTest, RingsOverTheCacheBudgetAreUnmapped) {
  RingPool pool(RingPool::kMinRingCapacity);  // room for one cached ring
  RingBuffer a = pool.acquire();
  RingBuffer b = pool.acquire();
  pool.release(std::move(a));
  pool.release(std::move(b));
  EXPECT_EQ(pool.stats().rings_cached, 1u);
  EXPECT_EQ(pool.stats().rings_lent, 0u);
}

}  // namespace
}  // namespace ringwire
