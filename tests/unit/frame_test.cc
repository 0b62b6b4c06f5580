#include "ringwire/frame.h"

#include <gtest/gtest.h>

#include <vector>

#include "support/test_client.h"

namespace ringwire {
namespace {

using test::Bytes;

// Decodes a byte stream the way a connection does: append each chunk, take every whole frame.
std::vector<Bytes> decode_stream(const Bytes& stream, std::size_t split, std::uint32_t max_frame) {
  std::vector<Bytes> frames;
  Bytes buffered;
  auto feed = [&](std::span<const std::byte> chunk) {
    buffered.insert(buffered.end(), chunk.begin(), chunk.end());
    std::size_t offset = 0;
    while (true) {
      const FrameView frame =
          decode_frame(std::span<const std::byte>(buffered).subspan(offset), max_frame);
      if (frame.status != FrameStatus::kComplete) break;
      frames.emplace_back(frame.payload.begin(), frame.payload.end());
      offset += frame.needed;
    }
    buffered.erase(buffered.begin(), buffered.begin() + static_cast<std::ptrdiff_t>(offset));
  };
  const std::span<const std::byte> all(stream);
  feed(all.first(split));
  feed(all.subspan(split));
  EXPECT_TRUE(buffered.empty());
  return frames;
}

TEST(FrameTest, HeaderIsBigEndian) {
  std::byte header[4];
  encode_frame_header(header, 0x01020304);
  EXPECT_EQ(header[0], std::byte{1});
  EXPECT_EQ(header[3], std::byte{4});
  EXPECT_EQ(load_be32(header), 0x01020304u);
}

TEST(FrameTest, EverySplitPointOfAMultiFrameStreamDecodesTheSameFrames) {
  const std::vector<Bytes> payloads = {
      test::random_payload(5, 1),   Bytes{}, test::random_payload(1, 2),
      test::random_payload(300, 3), Bytes{}, test::random_payload(17, 4)};
  Bytes stream;
  for (const auto& p : payloads) {
    const Bytes frame = test::make_frame(p);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    ASSERT_EQ(decode_stream(stream, split, kDefaultMaxFrame), payloads) << "split at " << split;
  }
}

TEST(FrameTest, SplitHeaderNeedsMore) {
  const Bytes frame = test::make_frame(test::random_payload(10, 9));
  for (std::size_t n = 0; n < kFrameHeaderSize; ++n) {
    const FrameView view = decode_frame(std::span<const std::byte>(frame).first(n), 100);
    EXPECT_EQ(view.status, FrameStatus::kNeedMore);
    EXPECT_EQ(view.needed, kFrameHeaderSize);
  }
  const FrameView partial = decode_frame(std::span<const std::byte>(frame).first(8), 100);
  EXPECT_EQ(partial.status, FrameStatus::kNeedMore);
  EXPECT_EQ(partial.length, 10u);
  EXPECT_EQ(partial.needed, 14u);
}

TEST(FrameTest, ZeroLengthFrameIsCompleteWithHeaderAlone) {
  const Bytes frame = test::make_frame(Bytes{});
  const FrameView view = decode_frame(frame, 100);
  EXPECT_EQ(view.status, FrameStatus::kComplete);
  EXPECT_EQ(view.needed, kFrameHeaderSize);
  EXPECT_TRUE(view.payload.empty());
}

TEST(FrameTest, LengthOverTheLimitIsRejectedFromTheHeaderAlone) {
  std::byte header[4];
  encode_frame_header(header, 1001);
  EXPECT_EQ(decode_frame(header, 1000).status, FrameStatus::kTooLarge);
  EXPECT_EQ(decode_frame(header, 1000).length, 1001u);
  EXPECT_EQ(decode_frame(header, 1001).status, FrameStatus::kNeedMore);
  encode_frame_header(header, 0xffffffffu);
  EXPECT_EQ(decode_frame(header, kDefaultMaxFrame).status, FrameStatus::kTooLarge);
}

}  // namespace
}  // namespace ringwire
