#include "workflow/poison_guard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace mi::workflow {
namespace {
namespace fs = std::filesystem;

class PoisonGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("mi-poison-guard-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  // One run of the process that dies while `fingerprint` is in hand: the guard is dropped
  // without settled(), as a crash leaves it.
  void run_that_dies_holding(std::uint64_t fingerprint) {
    PoisonGuard guard(dir, "workflow-0", 2);
    guard.open();
    guard.taking({fingerprint});
  }

  fs::path dir;
};

TEST_F(PoisonGuardTest, EachDeathWithAMessageInHandCountsOnceAndTheSecondMakesItPoison) {
  run_that_dies_holding(42);
  {
    PoisonGuard guard(dir, "workflow-0", 2);
    EXPECT_EQ(guard.open(), 1);  // one message in hand when the last run ended
    EXPECT_EQ(guard.crashes(42), 1);
    EXPECT_FALSE(guard.is_poison(42));
  }  // this run held nothing when it ended: no second count
  {
    PoisonGuard guard(dir, "workflow-0", 2);
    EXPECT_EQ(guard.open(), 0);
    EXPECT_EQ(guard.crashes(42), 1);
  }
  run_that_dies_holding(42);
  PoisonGuard guard(dir, "workflow-0", 2);
  guard.open();
  EXPECT_EQ(guard.crashes(42), 2);
  EXPECT_TRUE(guard.is_poison(42));
  EXPECT_FALSE(guard.is_poison(43));
}

TEST_F(PoisonGuardTest, SettledMessagesCountNothing) {
  {
    PoisonGuard guard(dir, "workflow-0", 2);
    guard.open();
    guard.taking({7, 8});
    guard.settled();
  }
  PoisonGuard guard(dir, "workflow-0", 2);
  guard.open();
  EXPECT_EQ(guard.crashes(7), 0);
  EXPECT_EQ(guard.crashes(8), 0);
}

TEST_F(PoisonGuardTest, OnlyTheLastBatchInHandCounts) {
  {
    PoisonGuard guard(dir, "workflow-0", 2);
    guard.open();
    guard.taking({1, 2, 3});
    guard.settled();
    guard.taking({4});
  }
  PoisonGuard guard(dir, "workflow-0", 2);
  guard.open();
  EXPECT_EQ(guard.crashes(1), 0);
  EXPECT_EQ(guard.crashes(4), 1);
}

TEST_F(PoisonGuardTest, AMessageThatGoesItsWayIsForgotten) {
  run_that_dies_holding(5);
  {
    PoisonGuard guard(dir, "workflow-0", 2);
    guard.open();
    ASSERT_EQ(guard.crashes(5), 1);
    guard.forget(5);
  }
  PoisonGuard guard(dir, "workflow-0", 2);
  guard.open();
  EXPECT_EQ(guard.crashes(5), 0);
}

TEST_F(PoisonGuardTest, WorkflowsKeepTheirOwnRecords) {
  run_that_dies_holding(9);
  PoisonGuard other(dir, "workflow-1", 2);
  other.open();
  EXPECT_EQ(other.crashes(9), 0);
}

TEST_F(PoisonGuardTest, CountsOfMessagesThatNeverCameBackAreBounded) {
  run_that_dies_holding(1);
  run_that_dies_holding(1);  // two deaths: kept over the others
  for (int death = 0; death < 5; ++death) {
    std::vector<std::uint64_t> batch;
    for (std::uint64_t i = 0; i < 255; ++i) batch.push_back(static_cast<std::uint64_t>(1000 + death * 1000) + i);
    PoisonGuard guard(dir, "workflow-0", 2);
    guard.open();
    guard.taking(batch);
  }
  PoisonGuard guard(dir, "workflow-0", 2);
  guard.open();
  EXPECT_EQ(guard.crashes(1), 2);
  int remembered = 0;
  for (int death = 0; death < 5; ++death) {
    for (std::uint64_t i = 0; i < 255; ++i) remembered += guard.crashes(static_cast<std::uint64_t>(1000 + death * 1000) + i);
  }
  EXPECT_EQ(remembered + 1, static_cast<int>(PoisonGuard::kMaxRemembered));
}

TEST_F(PoisonGuardTest, OffTouchesNoFile) {
  PoisonGuard guard(dir, "workflow-0", 0);
  guard.open();
  guard.taking({1});
  EXPECT_FALSE(guard.is_poison(1));
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(PoisonGuardTest, FingerprintFollowsPayloadAndIdsButNotOtherHeaders) {
  const Message a{"payload", {{"message-id", "m1"}, {"x-leader-epoch", "3"}}};
  const Message redelivered{"payload", {{"message-id", "m1"}, {"x-leader-epoch", "4"}, {"x-delivery-count", "1"}}};
  const Message other_id{"payload", {{"message-id", "m2"}}};
  const Message other_payload{"payloaD", {{"message-id", "m1"}}};
  EXPECT_EQ(PoisonGuard::fingerprint(a), PoisonGuard::fingerprint(redelivered));
  EXPECT_NE(PoisonGuard::fingerprint(a), PoisonGuard::fingerprint(other_id));
  EXPECT_NE(PoisonGuard::fingerprint(a), PoisonGuard::fingerprint(other_payload));
}

TEST_F(PoisonGuardTest, AnUnusableDirectoryIsAnError) {
  fs::create_directories(dir.parent_path());
  { std::ofstream(dir) << "a file where the directory should be"; }
  PoisonGuard guard(dir, "workflow-0", 2);
  EXPECT_THROW(guard.open(), std::runtime_error);
}

}  // namespace
}  // namespace mi::workflow
