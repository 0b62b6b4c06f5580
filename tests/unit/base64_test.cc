#include "ringwire/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace ringwire {
namespace {

// RFC 4648 section 10's test vectors.
TEST(Base64, EncodesTheRfcVectors) {
  EXPECT_EQ(encode_base64(""), "");
  EXPECT_EQ(encode_base64("f"), "Zg==");
  EXPECT_EQ(encode_base64("fo"), "Zm8=");
  EXPECT_EQ(encode_base64("foo"), "Zm9v");
  EXPECT_EQ(encode_base64("foob"), "Zm9vYg==");
  EXPECT_EQ(encode_base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(encode_base64("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesWhatItEncodesEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= bytes.size(); n += 85) {
    const std::string part = bytes.substr(0, n);
    EXPECT_EQ(decode_base64(encode_base64(part)), part) << n;
  }
  EXPECT_EQ(decode_base64("Zm9vYmE="), "fooba");
}

TEST(Base64, RefusesCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(decode_base64("Zm9v!mFy").has_value());
  EXPECT_FALSE(decode_base64("Zm9v YmFy").has_value());
}

}  // namespace
}  // namespace ringwire
