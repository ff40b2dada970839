#pragma once
// Connects the management session (active_standby) to the leader-election state machine,
// and orders hand-overs: workflows stop first, the flow is given up after.
#include <atomic>
#include <memory>
#include <thread>

#include "common/mutex.h"
#include "config/settings.h"
#include "leader/leader_election.h"
#include "session/management_session.h"

namespace mi::app {

class Redundancy final : public session::SessionListener {
 public:
  // `session` is null in standalone and active_active.
  Redundancy(leader::LeaderElection& leader, std::unique_ptr<session::ManagementSession> session);
  ~Redundancy() override;

  void start();
  // Planned switchover: stop the workflows (leader goes standby), then give up the flow.
  void shutdown();
  // Same order, then rejoin as standby; returns at once. False if not active.
  bool request_yield();

  const session::ManagementSession* session() const { return session_.get(); }

  void flow_active(unsigned long long epoch) override;
  void flow_inactive(const std::string& reason) override;

 private:
  void wait_until_standby();

  leader::LeaderElection& leader_;
  std::unique_ptr<session::ManagementSession> session_;
  std::atomic<bool> yielding_{false};  // read by the session's thread in flow_active
  // request_yield runs on the HTTP handler threads, shutdown on the main thread.
  Mutex yield_mutex_;
  bool shutting_down_ GUARDED_BY(yield_mutex_) = false;  // no yield starts after shutdown
  std::thread yield_thread_ GUARDED_BY(yield_mutex_);
};

}  // namespace mi::app
