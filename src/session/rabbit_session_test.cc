#include "session/rabbit_session.h"

#include <gtest/gtest.h>

namespace mi::session {
namespace {

TEST(LeaderToken, RoundTripsThroughItsTextForm) {
  const Token t{42, "00ff00ff00ff00ff", 7};
  const auto parsed = parse_token(format_token(t));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->epoch, 42u);
  EXPECT_EQ(parsed->owner, "00ff00ff00ff00ff");
  EXPECT_EQ(parsed->seq, 7u);
}

TEST(LeaderToken, ForeignMessagesAreNotTokens) {
  EXPECT_FALSE(parse_token("hello"));
  EXPECT_FALSE(parse_token("micro-integration leader token epoch=x owner=a seq=1"));
  EXPECT_FALSE(parse_token("micro-integration leader token epoch=1 seq=1"));
  EXPECT_FALSE(parse_token(""));
}

}  // namespace
}  // namespace mi::session
