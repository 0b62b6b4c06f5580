// OwedReplies alone: the ordering rule over the input ring and the output ring, a skipped frame
// behind an echoed prefix, and bytes handed to an asynchronous send.

#include "ringwire/owed_replies.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

namespace ringwire {
namespace {

class OwedRepliesTest : public ::testing::Test {
 protected:
  void receive(std::string_view bytes) {
    if (!input_.mapped()) input_ = lender_.take(RingPool::kMinRingCapacity);
    std::memcpy(input_.writable().data(), bytes.data(), bytes.size());
    input_.commit(bytes.size());
  }
  void write(std::string_view bytes) {
    std::memcpy(replies_.append(bytes.size()).data(), bytes.data(), bytes.size());
  }
  std::string owed() const {
    std::string all;
    const OwedReplies::Spans spans = replies_.ring_spans();
    for (std::size_t i = 0; i < spans.count; ++i) {
      all.append(reinterpret_cast<const char*>(spans.spans[i].data()), spans.spans[i].size());
    }
    return all;
  }

  RingPool rings_;
  LoopStats stats_;
  const RingLender lender_{rings_, stats_};
  RingBuffer input_;
  OwedReplies replies_{input_, lender_};
};

TEST_F(OwedRepliesTest, EchoesFromTheInputThenWrittenRepliesInOrder) {
  receive("aaabbb");
  replies_.echo(3);
  EXPECT_TRUE(replies_.echo_in_place());
  write("XY");
  EXPECT_FALSE(replies_.echo_in_place()) << "an echo behind a written reply must be copied";
  EXPECT_EQ(owed(), "aaaXY");
  EXPECT_EQ(replies_.unsent(), 5u);
  EXPECT_FALSE(replies_.sent(4));
  EXPECT_EQ(owed(), "Y");
  EXPECT_EQ(input_.size(), 3u) << "the echoed bytes left the input as they were sent";
}

TEST_F(OwedRepliesTest, ASkippedFrameBehindAnEchoLeavesOnlyWithIt) {
  receive("eeeeSSSrest");
  replies_.echo(4);
  replies_.skip(3);
  EXPECT_EQ(replies_.input_waiting(), 7u);
  EXPECT_FALSE(replies_.sent(2));
  EXPECT_TRUE(replies_.sent(2)) << "the skipped frame goes with the last echoed byte";
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(input_.readable().data()), input_.size()),
            "rest");
}

TEST_F(OwedRepliesTest, BytesInFlightAreNotOwedTwiceAndStayWhereTheyAre) {
  write("0123456789");
  replies_.sending(4);
  EXPECT_EQ(owed(), "456789");
  const std::byte* in_flight = replies_.ring_spans().spans[0].data() - 4;
  write(std::string(RingPool::kMinRingCapacity, 'z'));  // outgrows the output ring
  EXPECT_EQ(std::memcmp(in_flight, "0123", 4), 0) << "the ring being sent from was unmapped";
  EXPECT_EQ(owed().substr(0, 6), "456789");
  replies_.sent(4);
  EXPECT_EQ(replies_.in_flight(), 0u);
  EXPECT_EQ(owed().size(), 6 + RingPool::kMinRingCapacity);
}

TEST_F(OwedRepliesTest, PassedThroughBytesFollowTheRingBytes) {
  receive("pre");
  replies_.pass_through(3, 100);
  EXPECT_EQ(replies_.outside_ready(), 0u) << "the ring prefix goes first";
  replies_.sent(3);
  EXPECT_EQ(replies_.outside_ready(), 100u);
  replies_.sent_outside(100);
  EXPECT_EQ(replies_.unsent(), 0u);
}

TEST_F(OwedRepliesTest, DropHandsEveryRingBack) {
  write("abc");
  replies_.drop();
  EXPECT_EQ(replies_.unsent(), 0u);
  lender_.give_back(input_);
  EXPECT_EQ(stats_.ring_bytes_lent.get(), 0u);
}

}  // namespace
}  // namespace ringwire
