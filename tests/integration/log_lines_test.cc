// The tests and the fault campaign judge "never two active" on terms read from the
// instances' logs, so the reading itself must be right for both sessions' log lines.
#include "log_lines.h"

#include <gtest/gtest.h>

namespace mi::integration {
namespace {

std::string line(const std::string& time, const std::string& text) {
  return "2026-11-25T17:56:" + time + "+00:00 info  [leader] " + text + "\n";
}

TEST(LogLines, ReadsTheTimestampWithItsOffset) {
  EXPECT_EQ(log_time_ms("2026-11-25T17:56:06.568+00:00 info  [leader] x"), 1795629366568);
  EXPECT_EQ(log_time_ms("2026-11-25T18:56:06.568+01:00 info  [leader] x"), 1795629366568);
  EXPECT_EQ(log_time_ms("2026-11-25T17:56:06.5x8+00:00 info  [leader] x"), -1);
  EXPECT_EQ(log_time_ms("  at some frame"), -1);
}

TEST(LogLines, ATermRunsFromTheGateOpeningToItsClosing) {
  const std::string log = line("00.000", "state is now standby") +  // at start-up: not a term end
                          line("01.000", "management session: flow active, term epoch 1795629361000") +
                          line("01.004", "state is now active (epoch 1795629361000)") +
                          line("05.000", "management session: flow inactive: heartbeat missed") +
                          line("05.010", "state is now standby") +
                          line("09.000", "management session: flow active (lock acquired, epoch 7)");
  const auto terms = active_terms(log, 1795629380000);
  ASSERT_EQ(terms.size(), 2u);
  EXPECT_EQ(terms[0].from_ms, 1795629361000);
  EXPECT_EQ(terms[0].running_ms, 1795629361004);
  EXPECT_EQ(terms[0].to_ms, 1795629365000);  // the gate closed; stopping the workflows came later
  EXPECT_EQ(terms[0].epoch, 1795629361000);
  // The file-lock session's line, still open where the log ends; its workflows never started.
  EXPECT_EQ(terms[1].from_ms, 1795629369000);
  EXPECT_EQ(terms[1].epoch, 7);
  EXPECT_EQ(terms[1].running_ms, -1);
  EXPECT_EQ(terms[1].to_ms, 1795629380000);
}

TEST(LogLines, StoppingTheWorkflowsEndsATermWithoutAFlowInactiveLine) {
  const std::string log = line("01.000", "management session: flow active, term epoch 3") +
                          line("02.000", "state is now standby");
  const auto terms = active_terms(log, 1795629380000);
  ASSERT_EQ(terms.size(), 1u);
  EXPECT_EQ(terms[0].to_ms, 1795629362000);
}

TEST(LogLines, TheLastWordOnTheFlowDecidesWhetherAnInstanceIsActive) {
  const std::string active = "2026-11-30T12:00:00.000+00:00 info  [leader] management session: flow active, term epoch 5\n";
  const std::string inactive = "2026-11-30T12:00:01.000+00:00 warning [leader] management session: flow inactive: lease expired\n";
  EXPECT_FALSE(flow_active_at_end(""));
  EXPECT_TRUE(flow_active_at_end(active));
  EXPECT_FALSE(flow_active_at_end(active + inactive));
  EXPECT_TRUE(flow_active_at_end(active + inactive + active));
}

TEST(LogLines, OverlappingTermsOfDifferentInstancesAreFoundInAnyOrder) {
  const ActiveTerm a{1000, 2000, 1, -1}, b{2000, 3000, 2, -1}, long_one{3000, 9000, 3, -1}, inside{4000, 5000, 4, -1};
  EXPECT_TRUE(overlapping_terms({b, a}).empty()) << "one ends as the next begins";
  EXPECT_TRUE(overlapping_terms({}).empty());
  const auto found = overlapping_terms({inside, a, long_one, b});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("epoch 3"), std::string::npos);
  EXPECT_NE(found[0].find("epoch 4"), std::string::npos);
}

}  // namespace
}  // namespace mi::integration
