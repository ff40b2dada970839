// The checker must find what it is there to find: each test builds a small recorded
// history with one known problem (or none) and checks the verdict.
#include "campaign_checker.h"

#include <gtest/gtest.h>

#include <ctime>

namespace mi::campaign {
namespace {

constexpr long long kT0 = 1'795'000'000'000;  // some Unix ms in 2026

// A log line as the instances write it: "2026-11-25T17:56:06.568+00:00 info  [leader] ...".
std::string line_at(long long ms, const std::string& text) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[40];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03lld", ms % 1000);
  return std::string(stamp) + millis + "+00:00 info  [leader] " + text + "\n";
}
// The session opens the gate, then the workflows start 5 ms later.
std::string became_active(long long ms, int epoch) {
  return line_at(ms, "management session: flow active, term epoch " + std::to_string(epoch)) +
         line_at(ms + 5, "state is now active (epoch " + std::to_string(epoch) + ")");
}
std::string gave_up_flow(long long ms) { return line_at(ms, "flow inactive (lost connection): becoming standby"); }

FaultRecord fault(FaultType type, int target, long long at_ms) { return {{type, true, 0, 1000}, target, at_ms}; }

// Node 0 active (epoch 1) until it is killed at +10 s; node 1 takes over 60 ms later with
// epoch 2; messages s0..s3 arrive once each, in epoch order; the broker agrees.
CampaignHistory clean_handover() {
  CampaignHistory h;
  h.lives.push_back({0, 100, kT0, kT0 + 10'000, became_active(kT0 + 1'000, 1)});
  h.lives.push_back({1, 101, kT0, -1, line_at(kT0 + 500, "state is now standby") + became_active(kT0 + 10'060, 2)});
  h.faults.push_back(fault(FaultType::kKill9, 0, kT0 + 10'000));
  h.samples.push_back({kT0 + 5'000, kT0 + 5'300, {100}, {100, 101}});
  h.samples.push_back({kT0 + 15'000, kT0 + 15'300, {101}, {101}});
  h.arrivals = {{"s0", 1}, {"s1", 1}, {"s2", 2}, {"s3", 2}};
  h.confirmed = 4;
  h.end_ms = kT0 + 20'000;
  return h;
}

TEST(CampaignChecker, CleanHandoverPasses) {
  const CampaignHistory h = clean_handover();
  const CheckReport r = check(h);
  ASSERT_EQ(r.intervals.size(), 2u);
  EXPECT_EQ(r.intervals[0].from_ms, kT0 + 1'000);
  EXPECT_EQ(r.intervals[0].to_ms, kT0 + 10'000);  // ends when the process died
  EXPECT_EQ(r.intervals[0].epoch, 1);
  EXPECT_EQ(r.intervals[1].to_ms, h.end_ms);  // still active at the end
  EXPECT_EQ(r.overlaps, 0);
  EXPECT_EQ(r.disagreements, 0);
  EXPECT_EQ(r.samples_with_active, 2u);
  EXPECT_EQ(r.lost, 0);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(r.max_epoch, 2);
  ASSERT_EQ(r.failover_ms.size(), 1u);
  // The term starts when the gate opens; the failover ends when the workflows run.
  EXPECT_EQ(r.intervals[1].from_ms, kT0 + 10'060);
  EXPECT_EQ(r.failover_ms[0], 65);
  EXPECT_TRUE(r.findings.empty());
  EXPECT_TRUE(r.ok());
}

TEST(CampaignChecker, LinesWithoutAValidTimestampAreSkipped) {
  CampaignHistory h = clean_handover();
  // A multi-line message's continuation, a cut-off line and a mangled timestamp.
  h.lives[1].log = "  at some frame\n2026-11-25T17:56\n2026-11-25T17:56:06.5x8+00:00 info  [leader] management "
                   "session: flow active, term epoch 9\n" + h.lives[1].log;
  const CheckReport r = check(h);
  ASSERT_EQ(r.intervals.size(), 2u);
  EXPECT_EQ(r.intervals[1].epoch, 2);
  EXPECT_TRUE(r.ok());
}

TEST(CampaignChecker, OverlappingTermsFail) {
  CampaignHistory h = clean_handover();
  h.lives[1].log = became_active(kT0 + 9'900, 2);  // 100 ms before node 0 died
  const CheckReport r = check(h);
  EXPECT_EQ(r.overlaps, 1);
  EXPECT_EQ(r.overlap_ms, 100);
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.findings.empty());
  EXPECT_NE(r.findings[0].find("overlap"), std::string::npos);
}

TEST(CampaignChecker, TermEndsWhereTheInstanceGivesUpTheFlow) {
  CampaignHistory h = clean_handover();
  h.lives[0].ended_ms = -1;
  h.lives[0].log += gave_up_flow(kT0 + 9'950);
  h.faults[0] = fault(FaultType::kNetCut, 0, kT0 + 8'000);
  const CheckReport r = check(h);
  EXPECT_EQ(r.intervals[0].to_ms, kT0 + 9'950);
  EXPECT_EQ(r.overlaps, 0);
  EXPECT_EQ(r.failover_ms[0], 2'065);
}

TEST(CampaignChecker, AFrozenTermEndsAtFreezePlusLease) {
  // Node 0 is frozen at +5 s; its own log only says it gave up at +9.6 s, after SIGCONT.
  CampaignHistory h = clean_handover();
  h.lives[0].ended_ms = -1;
  h.lives[0].log += gave_up_flow(kT0 + 9'600);
  h.faults[0] = fault(FaultType::kStopLong, 0, kT0 + 5'000);
  h.lives[1].log = became_active(kT0 + 7'000, 2);
  h.samples.clear();
  CheckReport r = check(h);
  EXPECT_EQ(r.intervals[0].to_ms, kT0 + 5'000 + h.lease_ms);
  EXPECT_EQ(r.overlaps, 0);
  // Promoted while the frozen instance's lease could still run: that is an overlap.
  h.lives[1].log = became_active(kT0 + 6'000, 2);
  r = check(h);
  EXPECT_EQ(r.overlaps, 1);
  EXPECT_EQ(r.overlap_ms, 500);
  // A freeze of another node does not shorten node 0's term.
  h.faults[0].target = 1;
  r = check(h);
  EXPECT_EQ(r.intervals[0].to_ms, kT0 + 9'600);
}

TEST(CampaignChecker, AFreezeShorterThanTheLeaseDoesNotEndTheTerm) {
  // Node 0 is frozen for 0.5 s at +5 s, renews its lease on resuming and stays active until
  // it is killed at +10 s. Cutting its term at +6.5 s would hide node 1 starting at +8 s.
  CampaignHistory h = clean_handover();
  h.faults.insert(h.faults.begin(), fault(FaultType::kStopShort, 0, kT0 + 5'000));
  h.lives[1].log = became_active(kT0 + 8'000, 2);
  h.samples.clear();
  const CheckReport r = check(h);
  EXPECT_EQ(r.intervals[0].to_ms, kT0 + 10'000);
  EXPECT_EQ(r.overlaps, 1);
  EXPECT_EQ(r.overlap_ms, 2'000);
}

TEST(CampaignChecker, BrokerShowingAnotherActiveConsumerIsADisagreement) {
  CampaignHistory h = clean_handover();
  h.samples.push_back({kT0 + 6'000, kT0 + 6'200, {101}, {100, 101}});  // node 0 claims the whole sample
  CheckReport r = check(h);
  EXPECT_EQ(r.disagreements, 1);
  EXPECT_FALSE(r.ok());
  // A sample at the edge of a term (the broker a moment ahead of the log) is not one.
  h.samples.back() = {kT0 + 9'900, kT0 + 10'100, {101}, {100, 101}};
  r = check(h);
  EXPECT_EQ(r.disagreements, 0);
  // Two active consumers at once would be the broker's own failure.
  h.samples.back() = {kT0 + 30'000, kT0 + 30'100, {100, 101}, {100, 101}};
  r = check(h);
  EXPECT_EQ(r.disagreements, 1);
}

TEST(CampaignChecker, AStandbyLeftUnboundForLongFails) {
  // Node 1 runs from kT0 but the broker lists only node 0 as a consumer from +6 s to +24 s:
  // had node 0 died then, nobody would have taken over.
  CampaignHistory h = clean_handover();
  h.lives[0].ended_ms = -1;
  h.lives[1].log = line_at(kT0 + 500, "state is now standby");
  h.faults.clear();
  h.samples.clear();
  h.arrivals.resize(2);  // s0, s1 from epoch 1
  h.confirmed = 2;
  for (long long t = 6'000; t <= 24'000; t += 2'000) h.samples.push_back({kT0 + t, kT0 + t + 100, {100}, {100}});
  CheckReport r = check(h);
  EXPECT_EQ(r.unbound_stretches, 1);  // reported once, not per sample
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.findings.back().find("node 1 (pid 101) was not bound"), std::string::npos);
  // A few seconds unbound (a standby cut off and binding again) is not a finding.
  h.samples[5].bound = {100, 101};
  r = check(h);
  EXPECT_EQ(r.unbound_stretches, 0);
  EXPECT_TRUE(r.ok());
}

TEST(CampaignChecker, CountsLostDuplicatedStaleAndUnstampedMessages) {
  CampaignHistory h = clean_handover();
  h.confirmed = 6;  // s0..s5
  h.arrivals = {{"s0", 1}, {"s2", 2}, {"s2", 2}, {"s3", 1}, {"s4", -1}, {"s5", 2}};
  const CheckReport r = check(h);
  EXPECT_EQ(r.lost, 1);  // s1
  EXPECT_EQ(r.duplicates, 1);
  EXPECT_EQ(r.older_epoch_after_newer, 2);  // s3 with epoch 1 and s4 without one, after epoch 2
  EXPECT_EQ(r.unstamped, 1);
  EXPECT_FALSE(r.ok());
  // One line per stale arrival (naming it), then one per kind of problem.
  ASSERT_EQ(r.findings.size(), 5u);
  EXPECT_EQ(r.findings[0], "arrival 3 's3' carries epoch 1 after epoch 2");
  EXPECT_EQ(r.findings[1], "arrival 4 's4' carries epoch -1 after epoch 2");
}

TEST(CampaignChecker, AStaleSecondCopyIsNamedAsSuch) {
  CampaignHistory h = clean_handover();
  h.arrivals.push_back({"s1", 1});  // s1 again, after epoch 2
  const CheckReport r = check(h);
  EXPECT_EQ(r.older_epoch_after_newer, 1);
  EXPECT_EQ(r.findings[0], "arrival 4 's1' carries epoch 1 after epoch 2 (a second copy: it had arrived before)");
}

TEST(CampaignChecker, TheTargetQueueRedeliveringToTheCheckerIsNeitherStaleNorADuplicate) {
  // The checker's ack of s1 was lost (say, the broker restarted): the queue hands s1 over
  // again, flagged, after epoch 2's messages. No instance published anything late.
  CampaignHistory h = clean_handover();
  h.arrivals.push_back({"s1", 1, /*redelivered=*/true});
  CheckReport r = check(h);
  EXPECT_EQ(r.redelivered_to_checker, 1);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(r.older_epoch_after_newer, 0);
  EXPECT_TRUE(r.ok());
  // Without the flag the same arrival is a late second publication by epoch 1's instance.
  h.arrivals.back().redelivered = false;
  h.arrivals.back().at_ms = h.lives.front().started_ms + 12'300;
  r = check(h);
  EXPECT_EQ(r.redelivered_to_checker, 0);
  EXPECT_EQ(r.older_epoch_after_newer, 1);
  EXPECT_EQ(r.findings[0], "arrival 4 at +12.3 s 's1' carries epoch 1 after epoch 2 (a second copy: it had arrived before)");
}

TEST(CampaignChecker, DuplicatesAloneDoNotFail) {
  // At-least-once: a message handed back after a failover may arrive twice.
  CampaignHistory h = clean_handover();
  h.arrivals.push_back({"s3", 2});
  const CheckReport r = check(h);
  EXPECT_EQ(r.duplicates, 1);
  EXPECT_TRUE(r.ok());
}

TEST(CampaignChecker, FaultWithoutATakeoverBeforeTheNextFaultHasNoFailoverTime) {
  CampaignHistory h = clean_handover();
  h.faults.insert(h.faults.begin(), fault(FaultType::kStopShort, 1, kT0 + 3'000));
  const CheckReport r = check(h);
  ASSERT_EQ(r.failover_ms.size(), 2u);
  EXPECT_EQ(r.failover_ms[0], -1);  // node 1 became active only after the next fault
  EXPECT_EQ(r.failover_ms[1], 65);
}

TEST(CampaignChecker, ReportNamesTheVerdictInputs) {
  const CampaignHistory h = clean_handover();
  const CheckReport r = check(h);
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  print_report(h, r, false, out);
  std::fclose(out);
  const std::string report(text, size);
  std::free(text);
  EXPECT_NE(report.find("kill -9"), std::string::npos);
  EXPECT_NE(report.find("min=65 p50=65 max=65 ms"), std::string::npos);
  EXPECT_NE(report.find("epochs in arrival order (epoch x messages): 1x2 2x2"), std::string::npos);
  EXPECT_NE(report.find("lost 0, duplicates 0"), std::string::npos);
}

TEST(FaultPlan, TheSameSeedReplaysTheSamePlan) {
  EXPECT_EQ(plan(7, 200), plan(7, 200));
  EXPECT_NE(plan(7, 200), plan(8, 200));
  // A longer plan starts with the shorter one, so a short run is a prefix of a long one.
  const auto long_plan = plan(7, 200);
  const auto short_plan = plan(7, 20);
  EXPECT_TRUE(std::equal(short_plan.begin(), short_plan.end(), long_plan.begin()));
}

TEST(FaultPlan, EveryKindOfFaultOccursInALongPlan) {
  int seen[7] = {};
  for (const auto& f : plan(1, 300)) {
    ++seen[static_cast<int>(f.type)];
    EXPECT_GE(f.gap_ms, 1000);
    EXPECT_LE(f.gap_ms, 3000);
  }
  for (int count : seen) EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace mi::campaign
