#include "payload.h"

#include <gtest/gtest.h>

#include <vector>

#include "ringwire/frame.h"

namespace ringwire::load {
namespace {

std::vector<std::byte> request(const PayloadFormat& f, std::uint64_t seq, std::uint64_t ns) {
  std::vector<std::byte> frame(f.request_frame_size());
  f.write_request(frame.data(), seq, ns);
  return frame;
}

std::span<const std::byte> payload_of(const std::vector<std::byte>& frame) {
  return std::span(frame).subspan(kFrameHeaderSize);
}

TEST(Payload, EchoOfTheRequestChecksOk) {
  for (std::uint32_t size : {0u, 1u, 4u, 8u, 12u, 16u, 64u, 70000u}) {
    PayloadFormat f(size, false, 0);
    auto frame = request(f, 123456789, 987654321);
    EXPECT_EQ(load_be32(frame.data()), size);
    EXPECT_EQ(f.check_echo(payload_of(frame), 123456789, 987654321), ReplyCheck::kOk) << size;
  }
}

TEST(Payload, EachByteIsCheckedAndMismatchesAreClassified) {
  PayloadFormat f(64, false, 0);
  auto frame = request(f, 7, 1000);
  EXPECT_EQ(f.check_echo(payload_of(frame), 8, 1000), ReplyCheck::kSequence);
  EXPECT_EQ(f.check_echo(payload_of(frame).first(63), 7, 1000), ReplyCheck::kLength);
  for (std::size_t i = 8; i < 64; ++i) {  // past the sequence: time and pattern bytes
    auto bad = frame;
    bad[kFrameHeaderSize + i] ^= std::byte{0x80};
    EXPECT_EQ(f.check_echo(payload_of(bad), 7, 1000), ReplyCheck::kContent) << i;
  }
}

TEST(Payload, SmallFramesCarryTheLowBytesOfTheSequence) {
  PayloadFormat f(2, false, 0);
  auto frame = request(f, 0x1234, 0);
  EXPECT_EQ(f.check_echo(payload_of(frame), 0x1234, 99), ReplyCheck::kOk);  // no time fits
  EXPECT_EQ(f.check_echo(payload_of(frame), 0x1235, 0), ReplyCheck::kSequence);
}

TEST(Payload, SizedRequestsBeginWithTheReplySize) {
  PayloadFormat f(20, true, 4096);
  auto frame = request(f, 1, 2);
  EXPECT_EQ(load_be32(frame.data() + kFrameHeaderSize), 4096u);
}

}  // namespace
}  // namespace ringwire::load
