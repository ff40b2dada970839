#include "common/fencing_gate.h"

#include <gtest/gtest.h>

#include "common/manual_clock.h"

namespace mi {
namespace {

// The writers ask allows() with no time: the gate measures its lease on the clock it was made
// with, so a lease opened in simulated time runs out in simulated time.
TEST(FencingGate, AGateOnAManualClockIsCheckedAgainstThatClock) {
  testing::ManualClock clock;
  FencingGate gate(clock);
  EXPECT_FALSE(gate.allows());
  gate.open_until(clock.now() + Millis{1500}, 7);
  EXPECT_TRUE(gate.allows());
  clock.advance(Millis{1499});
  EXPECT_TRUE(gate.allows());
  clock.advance(Millis{1});
  EXPECT_FALSE(gate.allows()) << "the lease ended on the manual clock";
  gate.extend_until(clock.now() + Millis{10});
  EXPECT_TRUE(gate.allows());
  const FencingGate copy = gate;  // a copy keeps the clock
  clock.advance(Millis{10});
  EXPECT_FALSE(copy.allows());
  gate.close();
  EXPECT_FALSE(gate.allows());
}

TEST(FencingGate, AlwaysOpenStaysOpenAndAClosedGateStaysClosed) {
  const FencingGate open = FencingGate::always_open();
  EXPECT_TRUE(open.allows());
  EXPECT_FALSE(open.may_close());
  const FencingGate closed;
  EXPECT_FALSE(closed.allows());
  EXPECT_TRUE(closed.may_close());
}

TEST(ManualClock, SleepingAdvancesItAndIsRecorded) {
  testing::ManualClock clock;
  const SteadyTime before = clock.now();
  clock.sleep_for(Millis{250});
  EXPECT_EQ(clock.now() - before, Millis{250});
  ASSERT_EQ(clock.waits().size(), 1u);
  EXPECT_EQ(clock.waits()[0], Millis{250});
}

}  // namespace
}  // namespace mi
