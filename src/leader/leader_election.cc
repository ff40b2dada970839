#include "leader/leader_election.h"

#include "common/logging.h"

namespace mi::leader {

std::string_view to_string(LeaderState state) {
  return state == LeaderState::kActive ? "active" : "standby";
}


LeaderElection::LeaderElection(config::LeaderMode mode, BackoffPolicy fail_over,
                               WorkflowControl& workflows, Clock& clock, const FencingGate* gate)
    : mode_(mode), fail_over_(fail_over), workflows_(workflows), clock_(clock), gate_(gate) {
  last_change_ = clock_.wall_now();
}

LeaderElection::~LeaderElection() { shutdown(); }

void LeaderElection::start() {
  // Asked for before the worker runs, so that it becomes active before it carries out any
  // command that came in already (the API listens before start()).
  if (mode_ != config::LeaderMode::kActiveStandby) request(LeaderState::kActive);
  if (!worker_.joinable()) worker_ = std::thread([this] { run_worker(); });
}

void LeaderElection::request(LeaderState target, unsigned long long epoch) {
  {
    MutexLock lock(mutex_);
    if (stopping_) return;
    wanted_ = target;
    if (target == LeaderState::kActive) {
      wanted_epoch_ = epoch;
      wanted_since_ = clock_.wall_now();
    }
  }
  cv_.notify_all();
}

void LeaderElection::shutdown() {
  {
    MutexLock lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
    wanted_ = LeaderState::kStandby;
  }
  cv_.notify_all();
  if (worker_.joinable()) {
    worker_.join();
  } else {
    process_pending();
  }
}

LeaderStatus LeaderElection::status() const {
  MutexLock lock(mutex_);
  return {active_now() ? LeaderState::kActive : LeaderState::kStandby, changing_, state_changes_, last_change_, epoch_,
          term_started_};
}

bool LeaderElection::active_now() const {
  return state_ == LeaderState::kActive && (!gate_ || gate_->allows(clock_.now()));
}

CommandResult LeaderElection::command(int id, WorkflowCommand command, Millis queue_wait) {
  MutexLock lock(mutex_);
  if (stopping_) return {CommandResult::Code::kShuttingDown, "the instance is shutting down"};
  auto pending = std::make_shared<PendingCommand>(PendingCommand{id, command, false, std::nullopt});
  commands_.push_back(pending);
  cv_.notify_all();
  const bool taken = command_done_.wait_for(lock.native(), queue_wait, [&]() REQUIRES(mutex_) { return pending->taken; });
  if (!taken) {
    std::erase(commands_, pending);
    return {CommandResult::Code::kBusy, "not carried out: the instance was busy changing its state for " +
                                            std::to_string(queue_wait.count()) + " ms; try again"};
  }
  // Once taken up it ends within a workflow's stop timeout.
  command_done_.wait(lock.native(), [&]() REQUIRES(mutex_) { return pending->result.has_value(); });
  return *pending->result;
}

void LeaderElection::process_pending() {
  MutexLock lock(mutex_);
  while (wanted_ != state_ || !commands_.empty()) {
    if (wanted_ != state_) {
      transition(wanted_, lock);
    } else {
      run_command();
    }
  }
}

void LeaderElection::run_worker() {
  MutexLock lock(mutex_);
  for (;;) {
    cv_.wait(lock.native(), [this]() REQUIRES(mutex_) { return wanted_ != state_ || stopping_ || !commands_.empty(); });
    // A change of state comes before the commands that wait: they are checked against the
    // state it leads to.
    if (wanted_ != state_) {
      transition(wanted_, lock);
      continue;
    }
    if (!commands_.empty()) {
      run_command();
      continue;
    }
    if (stopping_) return;
  }
}

void LeaderElection::run_command() {
  auto pending = commands_.front();
  commands_.pop_front();
  pending->taken = true;
  command_done_.notify_all();
  const bool starts = pending->command == WorkflowCommand::kStart || pending->command == WorkflowCommand::kResume;
  CommandResult result;
  if (stopping_) {
    result = {CommandResult::Code::kShuttingDown, "the instance is shutting down"};
  } else if (starts && !active_now()) {
    result = {CommandResult::Code::kStandby, "this instance is standby; only the active instance runs workflows"};
  } else {
    mutex_.unlock();
    result = workflows_.change_workflow(pending->id, pending->command);
    mutex_.lock();
  }
  pending->result = std::move(result);
  command_done_.notify_all();
}

bool LeaderElection::transition(LeaderState target, MutexLock& lock) {
  changing_ = true;
  auto log = logger("leader");
  log->info("becoming {}: {} enabled workflows", to_string(target),
            target == LeaderState::kActive ? "starting" : "stopping");
  auto reversed = [this, target]() REQUIRES(mutex_) { return wanted_ != target; };
  bool completed = true;
  const std::vector<int> enabled = workflows_.enabled_workflows();
  if (target == LeaderState::kStandby) {
    // All wind down at once; the loop below then waits for each.
    mutex_.unlock();
    for (int id : enabled) workflows_.request_stop_workflow(id);
    mutex_.lock();
  }
  for (int id : enabled) {
    for (int attempt = 1; completed && attempt <= fail_over_.max_attempts; ++attempt) {
      if (attempt > 1 &&
          clock_.wait_for(lock.native(), cv_, fail_over_.delay_before_attempt(attempt), reversed)) {
        // Some workflows may already have changed, so the state is still taken; the
        // reversed request follows at once.
        log->info("change to {} cut short: {} was requested meanwhile", to_string(target),
                  to_string(wanted_));
        completed = false;
        break;
      }
      mutex_.unlock();
      const bool ok = target == LeaderState::kActive ? workflows_.start_workflow(id)
                                                     : workflows_.stop_workflow(id);
      mutex_.lock();
      if (ok) break;
      log->warn("workflow {}: {} attempt {}/{} failed", id,
                target == LeaderState::kActive ? "start" : "stop", attempt,
                fail_over_.max_attempts);
    }
    if (!completed) break;
  }
  state_ = target;
  if (target == LeaderState::kActive) {
    epoch_ = wanted_epoch_;
    term_started_ = wanted_since_;
  }
  changing_ = false;
  ++state_changes_;
  last_change_ = clock_.wall_now();
  if (target == LeaderState::kActive && epoch_ > 0) {
    log->info("state is now active (epoch {})", epoch_);
  } else {
    log->info("state is now {}", to_string(target));
  }
  return completed;
}

}  // namespace mi::leader
