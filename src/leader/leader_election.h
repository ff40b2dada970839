#pragma once
// The leader-election state machine. It does not know where the leadership signal comes
// from: standalone/active_active ask for active once; an active-standby session calls
// request() whenever its flow becomes active or inactive.
//
// On every change it tries to start (becoming active) or stop (becoming standby) each
// enabled workflow, up to fail-over.max-attempts with exponential back-off, and then takes
// the new state whatever the workflows did (the spec's rule). A request that arrives while a
// change is under way is kept; if it reverses the change, the back-off of the change in
// progress is cut short so the instance does not keep workflows running longer than needed.
//
// The worker thread is the one owner of every workflow state change: the management API
// hands its commands to command(), and the worker carries them out between changes of state,
// in the order they came, checking that the instance is active at that moment. Nothing else
// starts or stops a workflow, so a command never races a failover.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/fencing_gate.h"
#include "common/mutex.h"
#include "config/settings.h"
#include "leader/workflow_control.h"

namespace mi::leader {

enum class LeaderState { kStandby, kActive };
std::string_view to_string(LeaderState state);

struct LeaderStatus {
  LeaderState state = LeaderState::kStandby;
  bool changing = false;                 // a change is under way
  unsigned long long state_changes = 0;  // completed changes since start
  WallTime last_change{};                // when the last change completed
  unsigned long long epoch = 0;          // fencing epoch of the current or last active term
  WallTime term_started{};               // when that term was granted
};

class LeaderElection {
 public:
  // `gate` (active_standby): status() never reports active while it is closed.
  LeaderElection(config::LeaderMode mode, BackoffPolicy fail_over, WorkflowControl& workflows,
                 Clock& clock, const FencingGate* gate = nullptr);
  ~LeaderElection();

  config::LeaderMode mode() const { return mode_; }

  // Starts the worker thread; standalone and active_active ask to become active at once.
  void start();
  // Thread-safe; returns at once. The worker carries the change out. `epoch` numbers the
  // active term that the session granted (0 where there are no terms).
  void request(LeaderState target, unsigned long long epoch = 0);
  // Becomes standby (stopping the workflows) and ends the worker.
  void shutdown();

  // Has the worker carry out `command` on workflow `id`; thread-safe. Waits up to `queue_wait`
  // for the worker to take it up (kBusy if it did not: nothing was done), then until it is done.
  CommandResult command(int id, WorkflowCommand command, Millis queue_wait);

  // The state the API and metrics report. Active only while the fencing gate is open too:
  // when the lease has run out the workflows are already fenced, and another instance may be
  // active, before the session thread has noticed and the worker has stopped them.
  LeaderStatus status() const;

  // Carries out pending requests in the calling thread; for tests without the worker.
  void process_pending();

 private:
  struct PendingCommand {
    int id;
    WorkflowCommand command;
    bool taken = false;  // the worker is carrying it out
    std::optional<CommandResult> result;
  };
  void run_worker();
  // Active, and the fencing gate (if any) still open: what status() and the commands go by.
  bool active_now() const REQUIRES(mutex_);
  // Pops and carries out the oldest command; unlocks mutex_ while a workflow changes.
  void run_command() REQUIRES(mutex_);
  // Returns false if cut short because the wanted state changed meanwhile. `lock` holds
  // mutex_; it is unlocked while a workflow changes and during the back-off waits.
  bool transition(LeaderState target, MutexLock& lock) REQUIRES(mutex_);

  const config::LeaderMode mode_;
  const BackoffPolicy fail_over_;
  WorkflowControl& workflows_;
  Clock& clock_;
  const FencingGate* const gate_;

  mutable Mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable command_done_;
  std::deque<std::shared_ptr<PendingCommand>> commands_ GUARDED_BY(mutex_);
  LeaderState state_ GUARDED_BY(mutex_) = LeaderState::kStandby;
  LeaderState wanted_ GUARDED_BY(mutex_) = LeaderState::kStandby;
  bool changing_ GUARDED_BY(mutex_) = false;
  bool stopping_ GUARDED_BY(mutex_) = false;
  unsigned long long state_changes_ GUARDED_BY(mutex_) = 0;
  WallTime last_change_ GUARDED_BY(mutex_){};
  unsigned long long wanted_epoch_ GUARDED_BY(mutex_) = 0;
  WallTime wanted_since_ GUARDED_BY(mutex_){};
  unsigned long long epoch_ GUARDED_BY(mutex_) = 0;
  WallTime term_started_ GUARDED_BY(mutex_){};
  std::thread worker_;
};

}  // namespace mi::leader
