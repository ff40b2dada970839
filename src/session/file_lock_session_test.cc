#include "session/file_lock_session.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace mi::session {
namespace {

class RecordingListener final : public SessionListener {
 public:
  void flow_active(unsigned long long epoch) override {
    std::lock_guard lock(mutex);
    events.push_back("active " + std::to_string(epoch));
  }
  void flow_inactive(const std::string& reason) override {
    std::lock_guard lock(mutex);
    events.push_back("inactive " + reason);
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return events;
  }
  std::mutex mutex;
  std::vector<std::string> events;
};

template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST(FileLockSession, OneHolderAtATimeWithIncreasingEpochs) {
  const auto dir = std::filesystem::temp_directory_path() / ("mi-lock-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir / "leader.lock");
  FencingGate gate_a, gate_b;
  RecordingListener a_events, b_events;
  FileLockSession a(dir / "leader.lock", gate_a, Millis{50});
  FileLockSession b(dir / "leader.lock", gate_b, Millis{50});
  a.start(a_events);
  ASSERT_TRUE(eventually([&] { return a.status().active; }));
  b.start(b_events);
  ASSERT_TRUE(eventually([&] { return b.status().health == SessionHealth::kBound; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(b.status().active);  // blocked on the lock
  EXPECT_TRUE(gate_a.allows(SteadyTime::clock::now()));
  EXPECT_FALSE(gate_b.allows(SteadyTime::clock::now()));

  a.yield();  // a gives up; b takes over
  ASSERT_TRUE(eventually([&] { return b.status().active; }));
  EXPECT_FALSE(gate_a.allows(SteadyTime::clock::now()));
  EXPECT_EQ(a_events.snapshot(), (std::vector<std::string>{"active 1", "inactive yielded"}));
  EXPECT_EQ(b_events.snapshot(), std::vector<std::string>{"active 2"});
  EXPECT_EQ(gate_b.epoch(), 2u);

  b.release();  // a gets it back
  ASSERT_TRUE(eventually([&] { return a.status().active; }));
  EXPECT_EQ(gate_a.epoch(), 3u);
  a.release();
  std::filesystem::remove_all(dir);
}

TEST(FileLockSession, ReleaseWhileWaitingForTheLockReturns) {
  const auto dir = std::filesystem::temp_directory_path() / ("mi-lock2-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  FencingGate g1, g2;
  RecordingListener l1, l2;
  FileLockSession holder(dir / "l", g1, Millis{50});
  FileLockSession waiter(dir / "l", g2, Millis{50});
  holder.start(l1);
  ASSERT_TRUE(eventually([&] { return holder.status().active; }));
  waiter.start(l2);
  ASSERT_TRUE(eventually([&] { return waiter.status().health == SessionHealth::kBound; }));
  waiter.release();  // must not hang in F_OFD_SETLKW
  EXPECT_TRUE(l2.snapshot().empty());
  holder.release();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mi::session
