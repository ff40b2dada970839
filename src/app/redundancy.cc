#include "app/redundancy.h"

#include "common/logging.h"

namespace mi::app {

Redundancy::Redundancy(leader::LeaderElection& leader, std::unique_ptr<session::ManagementSession> session)
    : leader_(leader), session_(std::move(session)) {}

Redundancy::~Redundancy() {
  MutexLock lock(yield_mutex_);
  if (yield_thread_.joinable()) yield_thread_.join();
}

void Redundancy::start() {
  leader_.start();
  if (session_) session_->start(*this);
}

void Redundancy::shutdown() {
  {
    // A yield under way ends by itself (it waits for standby, then yields the flow).
    MutexLock lock(yield_mutex_);
    shutting_down_ = true;
    if (yield_thread_.joinable()) yield_thread_.join();
  }
  leader_.shutdown();             // workflows stopped, state standby
  if (session_) session_->release();  // only now can a standby take over: no overlap
}

bool Redundancy::request_yield() {
  if (!session_ || leader_.status().state != leader::LeaderState::kActive) return false;
  MutexLock lock(yield_mutex_);
  if (shutting_down_) return false;
  if (yielding_.exchange(true)) return true;  // already under way
  if (yield_thread_.joinable()) yield_thread_.join();  // the previous yield, finished
  yield_thread_ = std::thread([this] {
    leader_.request(leader::LeaderState::kStandby);
    wait_until_standby();
    session_->yield();
    yielding_ = false;
  });
  return true;
}

void Redundancy::wait_until_standby() {
  for (;;) {
    const auto s = leader_.status();
    if (s.state == leader::LeaderState::kStandby && !s.changing) return;
    SystemClock::instance().sleep_for(Millis{5});
  }
}

void Redundancy::flow_active(unsigned long long epoch) {
  if (yielding_) return;  // the flow is being handed over; do not start again
  leader_.request(leader::LeaderState::kActive, epoch);
}

void Redundancy::flow_inactive(const std::string& reason) {
  logger("leader")->info("flow inactive ({}): becoming standby", reason);
  leader_.request(leader::LeaderState::kStandby);
}

}  // namespace mi::app
