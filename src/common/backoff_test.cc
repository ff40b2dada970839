#include "common/backoff.h"

#include <gtest/gtest.h>

namespace mi {
namespace {

TEST(BackoffPolicy, FirstAttemptHasNoDelayAndLaterOnesGrowExponentially) {
  BackoffPolicy p{5, Millis{1000}, Millis{10000}, 2.0};
  EXPECT_EQ(p.delay_before_attempt(1), Millis{0});
  EXPECT_EQ(p.delay_before_attempt(2), Millis{1000});
  EXPECT_EQ(p.delay_before_attempt(3), Millis{2000});
  EXPECT_EQ(p.delay_before_attempt(4), Millis{4000});
}

TEST(BackoffPolicy, DelayIsCappedAtMaxInterval) {
  BackoffPolicy p{10, Millis{1000}, Millis{3000}, 3.0};
  EXPECT_EQ(p.delay_before_attempt(3), Millis{3000});
  EXPECT_EQ(p.delay_before_attempt(9), Millis{3000});
}

TEST(BackoffPolicy, MultiplierOneKeepsTheInitialInterval) {
  BackoffPolicy p{4, Millis{250}, Millis{10000}, 1.0};
  EXPECT_EQ(p.delay_before_attempt(4), Millis{250});
}

}  // namespace
}  // namespace mi
