#pragma once
// One workflow: a worker thread that takes a message from its input binding, hands it to
// its output binding and acknowledges the input only after the output stored it.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/fencing_gate.h"
#include "config/settings.h"
#include "workflow/binder.h"

namespace mi::workflow {

enum class WorkflowState { kRunning, kStopped, kPaused, kUnknown };
std::string_view to_string(WorkflowState state);

struct WorkflowCounters {
  unsigned long long received = 0;   // taken from the input
  unsigned long long delivered = 0;  // stored by the output and acknowledged
  unsigned long long failed = 0;     // output attempts that failed (message kept at input)
  unsigned long long fenced = 0;     // messages handed back because leadership was not confirmed
};

// Header carrying the leader epoch (fencing token) of the term that sent a message.
inline constexpr const char* kLeaderEpochHeader = "x-leader-epoch";

class Workflow {
 public:
  // `gate` (may be null: always open) fences the worker: it sends nothing while closed.
  Workflow(config::WorkflowSettings settings, const BinderRegistry& registry, Clock& clock,
           const FencingGate* gate = nullptr);
  ~Workflow();
  Workflow(const Workflow&) = delete;
  Workflow& operator=(const Workflow&) = delete;

  int id() const { return settings_.id; }
  const config::WorkflowSettings& settings() const { return settings_; }

  // Opens both bindings and starts the worker. False, with last_error(), if that fails.
  bool start();
  // Lets the worker finish the message in hand, then closes the bindings. False if the
  // worker did not finish within `timeout` (state becomes unknown; stop can be retried).
  bool stop(Millis timeout);
  bool pause();   // running -> paused: takes no new input; false in any other state
  bool resume();  // paused -> running

  WorkflowState state() const;
  std::string last_error() const;
  WorkflowCounters counters() const;

 private:
  void run();
  void record_error(const std::string& message);
  // Waits on the worker's condition; returns early when asked to stop or pause.
  void wait_interruptibly(Millis duration);

  const config::WorkflowSettings settings_;
  const BinderRegistry& registry_;
  Clock& clock_;
  const FencingGate* gate_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  WorkflowState state_ = WorkflowState::kStopped;
  bool stop_requested_ = false;
  bool worker_done_ = true;
  std::string last_error_;
  std::thread worker_;
  std::unique_ptr<InputBinding> input_;
  std::unique_ptr<OutputBinding> output_;

  std::atomic<unsigned long long> received_{0};
  std::atomic<unsigned long long> delivered_{0};
  std::atomic<unsigned long long> failed_{0};
  std::atomic<unsigned long long> fenced_{0};
};

}  // namespace mi::workflow
