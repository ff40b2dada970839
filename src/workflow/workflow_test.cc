#include "workflow/workflow.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <thread>

#include "common/manual_clock.h"
#include "workflow/fake_binder.h"
#include "workflow/poison_guard.h"
#include "workflow/workflow_manager.h"

namespace mi::workflow {
namespace {

using testing::FakeBinder;
using testing::FakeBroker;

// Waits for the worker thread; the deadline only guards against a hang.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

config::WorkflowSettings fake_settings(int id, bool enabled = true) {
  config::WorkflowSettings s;
  s.id = id;
  s.enabled = enabled;
  s.input = {"input-" + std::to_string(id), "in", "fake", "fake", {}, {}};
  s.output = {"output-" + std::to_string(id), "out", "fake", "fake", {}, {}};
  s.retry.initial_interval = Millis{100};
  s.retry.max_interval = Millis{5000};
  return s;
}

class WorkflowTest : public ::testing::Test {
 protected:
  WorkflowTest() { registry.add(std::make_unique<FakeBinder>(broker)); }
  size_t stored() {
    std::lock_guard lock(broker.mutex);
    return broker.stored.size();
  }
  void put(const std::string& payload) {
    std::lock_guard lock(broker.mutex);
    broker.queue.push_back({payload, {{"h", "v"}}});
  }
  FakeBroker broker;
  BinderRegistry registry;
  mi::testing::ManualClock clock;
};

TEST_F(WorkflowTest, MovesMessagesAndAcknowledgesOnlyAfterOutputStoredThem) {
  Workflow w(fake_settings(0), registry, clock);
  put("a");
  put("b");
  ASSERT_TRUE(w.start());
  EXPECT_EQ(w.state(), WorkflowState::kRunning);
  ASSERT_TRUE(eventually([&] { return stored() == 2; }));
  ASSERT_TRUE(w.stop(Millis{2000}));
  EXPECT_EQ(w.state(), WorkflowState::kStopped);
  std::lock_guard lock(broker.mutex);
  ASSERT_EQ(broker.acked.size(), 2u);
  EXPECT_EQ(broker.stored[0].payload, "a");
  EXPECT_EQ(broker.stored[1].headers.at("h"), "v");
  EXPECT_EQ(w.counters().delivered, 2u);
}

TEST_F(WorkflowTest, UnavailableOutputKeepsMessageAtInputAndRetriesWithBackOff) {
  broker.output_failures_to_inject = 3;
  Workflow w(fake_settings(1), registry, clock);
  put("kept-while-output-is-down");
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return stored() == 1; }));
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  EXPECT_EQ(broker.rejects, 3);
  EXPECT_EQ(broker.acked.size(), 1u);
  EXPECT_EQ(w.counters().failed, 3u);
  EXPECT_FALSE(w.reconnecting());  // the output is back
  // The worker waited between attempts, doubling the wait each time.
  ASSERT_GE(clock.waits().size(), 3u);
  EXPECT_EQ(clock.waits()[0], Millis{100});
  EXPECT_EQ(clock.waits()[1], Millis{200});
  EXPECT_EQ(clock.waits()[2], Millis{400});
}

TEST_F(WorkflowTest, ReportsReconnectingWhileTheOutputIsDown) {
  broker.output_failures_to_inject = 1000000;
  Workflow w(fake_settings(1), registry, clock);
  put("m");
  ASSERT_TRUE(w.start());
  EXPECT_TRUE(eventually([&] { return w.last_error().find("output unavailable") != std::string::npos; }));
  EXPECT_TRUE(w.reconnecting());
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  EXPECT_TRUE(broker.acked.empty());
  EXPECT_EQ(broker.queue.size(), 1u);  // never acknowledged, never lost
}

TEST_F(WorkflowTest, RefusedMessageIsRetriedThenHandedBackAndTheWorkerWaitsInsteadOfSpinning) {
  broker.poison_payload = "poison";
  Workflow w(fake_settings(1), registry, clock);
  put("poison");
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return w.counters().failed >= 3; }));
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  EXPECT_TRUE(broker.acked.empty());
  EXPECT_GE(broker.rejects, 1);
  EXPECT_EQ(broker.queue.front().payload, "poison");  // still at the input
  EXPECT_GE(w.counters().retried, 2u);
  // Attempt 2 after 100 ms, attempt 3 after 200 ms, then the longest back-off before the
  // input may offer the same message again.
  ASSERT_GE(clock.waits().size(), 3u);
  EXPECT_EQ(clock.waits()[0], Millis{100});
  EXPECT_EQ(clock.waits()[1], Millis{200});
  EXPECT_EQ(clock.waits()[2], Millis{5000});
  EXPECT_NE(w.last_error().find("refused"), std::string::npos);
}

TEST_F(WorkflowTest, RefusedMessageIsDeadLetteredAndTheOthersFlow) {
  broker.poison_payload = "poison";
  broker.dead_letter_enabled = true;
  Workflow w(fake_settings(1), registry, clock);
  put("a");
  put("poison");
  put("b");
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return stored() == 2 && w.counters().dead_lettered == 1; }));
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  ASSERT_EQ(broker.dead_letters.size(), 1u);
  EXPECT_EQ(broker.dead_letters[0].payload, "poison");
  EXPECT_NE(broker.dead_letters[0].headers.at("x-exception-message").find("refused"), std::string::npos);
  EXPECT_EQ(broker.stored[0].payload, "a");
  EXPECT_EQ(broker.stored[1].payload, "b");
  EXPECT_TRUE(broker.unacked.empty());
  EXPECT_EQ(w.counters().retried, 2u);  // max-attempts 3
}

TEST_F(WorkflowTest, PublishAsyncSendsBatchesUpToTheBackPressureThreshold) {
  auto settings = fake_settings(1);
  settings.acknowledgment.publish_async = true;
  settings.acknowledgment.back_pressure_threshold = 10;
  for (int i = 0; i < 25; ++i) put(std::to_string(i));
  Workflow w(settings, registry, clock);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return stored() == 25; }));
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(broker.stored[static_cast<size_t>(i)].payload, std::to_string(i));
  for (int i = 0; i < 25; ++i) EXPECT_EQ(broker.acked[static_cast<size_t>(i)].payload, std::to_string(i));
  EXPECT_EQ(*std::max_element(broker.batch_sizes.begin(), broker.batch_sizes.end()), 10u);
  EXPECT_EQ(w.counters().delivered, 25u);
  EXPECT_EQ(w.counters().in_flight, 0u);
  EXPECT_EQ(w.latency().snapshot().count(), 25u);
}

TEST_F(WorkflowTest, WithoutPublishAsyncOneMessageIsInFlightAtATime) {
  for (int i = 0; i < 5; ++i) put(std::to_string(i));
  Workflow w(fake_settings(1), registry, clock);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return stored() == 5; }));
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  EXPECT_EQ(*std::max_element(broker.batch_sizes.begin(), broker.batch_sizes.end()), 1u);
}

TEST_F(WorkflowTest, PauseTakesNoNewInputAndResumeContinues) {
  Workflow w(fake_settings(2), registry, clock);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(w.pause());
  EXPECT_EQ(w.state(), WorkflowState::kPaused);
  // Give a worker that ignored the pause every chance to take the message.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  put("held");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(stored(), 0u);
  ASSERT_TRUE(w.resume());
  ASSERT_TRUE(eventually([&] { return stored() == 1; }));
  EXPECT_TRUE(w.stop(Millis{2000}));
}

TEST_F(WorkflowTest, PauseAndResumeOnlyFromTheRightState) {
  Workflow w(fake_settings(3), registry, clock);
  EXPECT_FALSE(w.pause());
  EXPECT_FALSE(w.resume());
  ASSERT_TRUE(w.start());
  EXPECT_TRUE(w.start());  // already running: fine
  EXPECT_TRUE(w.resume());
  EXPECT_TRUE(w.stop(Millis{2000}));
  EXPECT_TRUE(w.stop(Millis{2000}));
}

// A binding that cannot be opened (a broker down or hanging) is the worker's business: start
// returns at once, the workflow is running and reconnecting, and the worker keeps trying.
TEST_F(WorkflowTest, AnInputThatCannotOpenLeavesTheWorkflowRunningAndReconnectingUntilItOpens) {
  broker.fail_open = true;
  auto settings = fake_settings(4);
  settings.retry.initial_interval = Millis{20};
  settings.retry.max_interval = Millis{50};
  Workflow w(settings, registry, SystemClock::instance());  // real waits between the attempts
  EXPECT_TRUE(w.start());
  EXPECT_EQ(w.state(), WorkflowState::kRunning);
  EXPECT_TRUE(w.reconnecting());
  ASSERT_TRUE(eventually([&] { return broker.open_attempts >= 3; })) << "open is tried again";
  EXPECT_NE(w.last_error().find("cannot open the input"), std::string::npos) << w.last_error();
  EXPECT_NE(w.last_error().find("fake input cannot open"), std::string::npos) << w.last_error();
  EXPECT_TRUE(w.reconnecting());
  broker.fail_open = false;
  put("after");
  ASSERT_TRUE(eventually([&] { return w.counters().delivered == 1; }));
  EXPECT_FALSE(w.reconnecting());
  EXPECT_TRUE(w.stop(Millis{2000}));
}

// The first attempt opens the output, then the input: when the input fails there, the error
// names the input (it named the output until the second attempt, a second later).
TEST_F(WorkflowTest, TheFirstFailedOpenNamesTheSideThatFailed) {
  broker.fail_open = true;
  auto settings = fake_settings(4);
  settings.retry.initial_interval = Millis{60000};  // no second attempt during the test
  Workflow w(settings, registry, SystemClock::instance());
  EXPECT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return !w.last_error().empty(); }));
  EXPECT_EQ(broker.open_attempts, 1);
  EXPECT_NE(w.last_error().find("cannot open the input"), std::string::npos) << w.last_error();
  EXPECT_TRUE(w.stop(Millis{2000}));
}

// The stop of a workflow whose broker hangs in open() ends when that open gives up; readers
// are never held up meanwhile.
TEST_F(WorkflowTest, ReadersAnswerAtOnceWhileAnOpenHangs) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  broker.on_open = [released] { released.wait(); };
  Workflow w(fake_settings(6), registry, clock);
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(w.start());
  EXPECT_EQ(w.state(), WorkflowState::kRunning);
  EXPECT_TRUE(w.reconnecting());
  (void)w.last_error();
  (void)w.counters();
  // Generous bound: the open is held until the test releases it, so anything near it would
  // mean a reader waited on the open.
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  w.request_stop();
  release.set_value();
  EXPECT_TRUE(w.stop(Millis{5000}));
  EXPECT_EQ(w.state(), WorkflowState::kStopped);
}

TEST_F(WorkflowTest, UnknownBinderTypeFailsToStart) {
  auto s = fake_settings(5);
  s.output.binder_type = "solace";
  Workflow w(s, registry, clock);
  EXPECT_FALSE(w.start());
  EXPECT_NE(w.last_error().find("solace"), std::string::npos);
}

TEST_F(WorkflowTest, ManagerKeepsConfiguredWorkflowsAndReportsEnabledOnes) {
  std::vector<config::WorkflowSettings> all;
  for (int id = 0; id < 20; ++id) all.push_back(config::WorkflowSettings{id, false, {}, {}, {}, {}, {}});
  all[2] = fake_settings(2);
  all[7] = fake_settings(7, false);
  WorkflowManager manager(all, registry, clock, Millis{1000});
  EXPECT_EQ(manager.all().size(), 2u);
  EXPECT_EQ(manager.enabled_workflows(), std::vector<int>{2});
  EXPECT_TRUE(manager.start_workflow(2));
  EXPECT_FALSE(manager.start_workflow(3));  // not configured
  EXPECT_TRUE(manager.stop_workflow(2));
}

}  // namespace
}  // namespace mi::workflow

namespace mi::workflow {
namespace {

TEST_F(WorkflowTest, ClosedFencingGateHoldsMessagesAndOpenGateStampsEpoch) {
  FencingGate gate;  // closed
  Workflow w(fake_settings(6), registry, clock, &gate);
  put("fenced");
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return w.counters().fenced >= 1; }));
  EXPECT_EQ(stored(), 0u);
  gate.open_until(SteadyTime(std::chrono::hours(24 * 365 * 100)), 7);  // far beyond the manual clock
  ASSERT_TRUE(eventually([&] { return stored() == 1; }));
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  EXPECT_EQ(broker.stored[0].headers.at(kLeaderEpochHeader), "7");
  EXPECT_TRUE(broker.unacked.empty());
}

// A message the process died holding twice (consumer.max-crashes 2) is set aside at the next
// start rather than handed to the output a third time; the others flow.
class PoisonWorkflowTest : public WorkflowTest {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("mi-poison-workflow-" + std::to_string(::getpid()) + "-" +
                                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    const auto poison = PoisonGuard::fingerprint(Message{"poison", {{"h", "v"}}});
    for (int death = 0; death < 2; ++death) {
      PoisonGuard guard(dir, "workflow-0", 2);
      guard.open();
      guard.taking({poison});
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  config::WorkflowSettings settings() {
    auto s = fake_settings(0);
    s.poison = {2, dir.string(), "workflow-0"};
    return s;
  }
  std::filesystem::path dir;
};

TEST_F(PoisonWorkflowTest, IsDeadLetteredAndTheOthersAreDelivered) {
  broker.dead_letter_enabled = true;
  put("a");
  put("poison");
  put("b");
  Workflow w(settings(), registry, clock);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return stored() == 2; }));
  w.stop(Millis{2000});
  std::lock_guard lock(broker.mutex);
  ASSERT_EQ(broker.dead_letters.size(), 1u);
  EXPECT_EQ(broker.dead_letters[0].payload, "poison");
  EXPECT_NE(broker.dead_letters[0].headers.at("x-exception-message").find("died 2 times"), std::string::npos);
  for (const auto& m : broker.stored) EXPECT_NE(m.payload, "poison");
  EXPECT_EQ(w.counters().dead_lettered, 1u);
  // Set aside: forgotten, so the records hold nothing more.
  PoisonGuard after(dir, "workflow-0", 2);
  after.open();
  EXPECT_EQ(after.crashes(PoisonGuard::fingerprint(Message{"poison", {{"h", "v"}}})), 0);
}

TEST_F(PoisonWorkflowTest, WithoutADeadLetterDestinationItIsHandedBackNotSentAndTheErrorSaysSo) {
  put("poison");
  Workflow w(settings(), registry, clock);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return w.last_error().find("died 2 times") != std::string::npos; }));
  w.stop(Millis{2000});
  EXPECT_NE(w.last_error().find("no dead-letter destination"), std::string::npos) << w.last_error();
  std::lock_guard lock(broker.mutex);
  EXPECT_TRUE(broker.stored.empty());
  ASSERT_EQ(broker.queue.size(), 1u);  // handed back, nothing lost
  EXPECT_EQ(broker.queue.front().payload, "poison");
}

TEST_F(PoisonWorkflowTest, AMessageDiedWithOnceIsStillDelivered) {
  auto s = settings();
  s.poison.max_crashes = 3;
  put("poison");
  Workflow w(s, registry, clock);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return stored() == 1; }));
  w.stop(Millis{2000});
}

// publish-async batches: a death blames every message of the batch in hand, so the next start
// sends each of them alone; a message that was only near the poison is delivered and forgotten.
TEST_F(PoisonWorkflowTest, AfterADeathTheMessagesOfItsBatchGoOneAtATime) {
  std::filesystem::remove_all(dir);
  const auto fingerprint = [](const std::string& payload) {
    return PoisonGuard::fingerprint(Message{payload, {{"h", "v"}}});
  };
  {
    PoisonGuard guard(dir, "workflow-0", 2);
    guard.open();
    guard.taking({fingerprint("a"), fingerprint("b"), fingerprint("c")});
  }
  auto s = settings();
  s.acknowledgment.publish_async = true;
  s.acknowledgment.back_pressure_threshold = 10;
  for (const char* payload : {"a", "b", "c", "d"}) put(payload);
  Workflow w(s, registry, clock);
  ASSERT_TRUE(w.start());
  ASSERT_TRUE(eventually([&] { return stored() == 4; }));
  w.stop(Millis{2000});
  {
    std::lock_guard lock(broker.mutex);
    EXPECT_EQ(*std::max_element(broker.batch_sizes.begin(), broker.batch_sizes.end()), 1u);
    EXPECT_TRUE(broker.dead_letters.empty());
  }
  PoisonGuard after(dir, "workflow-0", 2);
  after.open();
  for (const char* payload : {"a", "b", "c"}) EXPECT_EQ(after.crashes(fingerprint(payload)), 0) << payload;
}

}  // namespace
}  // namespace mi::workflow
