#include "common/latency_histogram.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mi {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(LatencyHistogram, CountsEachObservationInTheFirstBucketThatHoldsIt) {
  LatencyHistogram h;
  h.observe(microseconds(100));   // <= 0.5 ms
  h.observe(microseconds(500));   // exactly on the bound: still <= 0.5 ms
  h.observe(milliseconds(3));     // <= 5 ms
  h.observe(milliseconds(20000)); // +Inf
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative[0], 2u);
  EXPECT_EQ(s.cumulative[2], 2u);  // nothing between 0.5 and 2.5 ms
  EXPECT_EQ(s.cumulative[3], 3u);  // <= 5 ms
  EXPECT_EQ(s.cumulative[LatencyHistogram::kBuckets - 2], 3u);
  EXPECT_EQ(s.count(), 4u);
  EXPECT_NEAR(s.sum_seconds, 20.0036, 1e-9);
}

TEST(LatencyHistogram, QuantileUpperBoundNamesTheBucketEdge) {
  LatencyHistogram h;
  EXPECT_EQ(h.snapshot().quantile_upper_bound(0.5), 0);
  for (int i = 0; i < 99; ++i) h.observe(microseconds(800));
  h.observe(milliseconds(30));
  const auto s = h.snapshot();
  EXPECT_EQ(s.quantile_upper_bound(0.5), 0.001);
  EXPECT_EQ(s.quantile_upper_bound(0.99), 0.001);
  EXPECT_EQ(s.quantile_upper_bound(1.0), 0.05);
  h.observe(milliseconds(60000));
  EXPECT_TRUE(std::isinf(h.snapshot().quantile_upper_bound(1.0)));
}

}  // namespace
}  // namespace mi
