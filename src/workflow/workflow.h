#pragma once
// One workflow: a worker thread that opens both bindings, then takes messages from its input
// binding (up to the in-flight window at a time), hands them to its output binding and
// acknowledges each at the input only after the output stored it. Inputs are settled in the
// order they were received.
//
// Threads: the commands (start, request_stop, stop, pause, resume) may come from any thread;
// they are serialized by control_mutex_ (the caller is normally the leader's thread, which owns
// every state change). Readers (state, last_error, counters, reconnecting) take only mutex_,
// which is never held while a binding does I/O, so the management API answers at once even
// while a broker hangs.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/latency_histogram.h"
#include "common/mutex.h"
#include "common/fencing_gate.h"
#include "config/settings.h"
#include "workflow/binder.h"
#include "workflow/poison_guard.h"

namespace mi::workflow {

enum class WorkflowState { kRunning, kStopped, kPaused, kUnknown };
std::string_view to_string(WorkflowState state);

struct WorkflowCounters {
  unsigned long long received = 0;       // taken from the input
  unsigned long long delivered = 0;      // stored by the output and acknowledged
  unsigned long long failed = 0;         // output attempts that failed (message kept at input)
  unsigned long long retried = 0;        // further attempts on a message the output refused
  unsigned long long dead_lettered = 0;  // refused max-attempts times, moved to the dead-letter destination
  unsigned long long fenced = 0;         // messages handed back because leadership was not confirmed
  unsigned long long in_flight = 0;      // taken from the input, not yet settled (gauge)
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

  // Creates the bindings and starts the worker, which opens them (output first) in its own
  // thread: start() returns at once, and while a binding cannot be opened (a broker that is
  // down or hangs) the workflow is running and reconnecting(), and the worker tries again
  // with the retry back-off. False, with last_error(), only if no worker could be started
  // (no such binder type, a binding that cannot be created, a previous run still stopping).
  bool start();
  // Asks the worker to wind down and returns at once; stop() then waits for it. Lets the
  // caller stop several workflows at the same time.
  void request_stop();
  // Lets the worker finish the message in hand (or an open in progress, bounded by the
  // binder's connect timeout), then closes the bindings. False if the worker did not finish
  // within `timeout` (state becomes unknown; stop can be retried).
  bool stop(Millis timeout);
  bool pause();   // running -> paused: takes no new input; false in any other state
  bool resume();  // paused -> running

  WorkflowState state() const;
  std::string last_error() const;
  WorkflowCounters counters() const;
  // True while the input or the output broker is unreachable and the worker is reconnecting.
  bool reconnecting() const;
  // From taking a message off the input to its acknowledgment after the output stored it.
  const LatencyHistogram& latency() const { return latency_; }

 private:
  struct InHand {
    Delivery delivery;
    SteadyTime taken;
    std::uint64_t fingerprint = 0;  // PoisonGuard::fingerprint, set once per message when the guard is on
  };
  // The worker: open_bindings(), then move_messages() until asked to stop.
  void run();
  void move_messages();
  // Worker: opens the output, then the input, until both are open (true) or a stop is asked
  // for (false). Failures are reported through set_down() and retried with back-off.
  bool open_bindings();
  // Settles every message of one batch: handed back when fenced, set aside when poison (see
  // set_aside_poison), else sent. Returns false if the output is down.
  bool process(std::vector<InHand>& batch);
  // Sends `batch` to the output and settles every message of it by the outcome; returns false
  // if the output is down.
  bool send(std::vector<InHand>& batch);
  // Takes out of `batch` (settled) every message the process has died holding max-crashes
  // times: set aside by the input, or handed back when it cannot be.
  void set_aside_poison(std::vector<InHand>& batch);
  // The output refused `in_hand`: retries with back-off, then dead-letters or hands it back.
  // Returns false if the output went down meanwhile.
  bool retry_refused(InHand& in_hand, std::string error);
  void settle(const Delivery& delivery, bool acknowledge);
  void set_down(bool input_side, bool down, const std::string& why);
  void record_error(const std::string& message) REQUIRES(mutex_);
  // Waits on the worker's condition; returns early when asked to stop or pause.
  void wait_interruptibly(Millis duration);
  // Waits; returns false at once if asked to stop (a pause does not interrupt a retry).
  bool wait_unless_stopping(Millis duration);
  Millis next_delay(Millis delay) const;

  const config::WorkflowSettings settings_;
  const BinderRegistry& registry_;
  Clock& clock_;
  const FencingGate* gate_;

  Mutex control_mutex_;  // held by start/stop/pause/resume, never by a reader
  mutable Mutex mutex_;  // never held during I/O
  std::condition_variable cv_;
  WorkflowState state_ GUARDED_BY(mutex_) = WorkflowState::kStopped;
  bool stop_requested_ GUARDED_BY(mutex_) = false;
  bool worker_done_ GUARDED_BY(mutex_) = true;
  std::string last_error_ GUARDED_BY(mutex_);
  // Set while no worker runs, under control_mutex_; the worker then has them to itself.
  std::thread worker_ GUARDED_BY(control_mutex_);
  std::unique_ptr<InputBinding> input_;
  std::unique_ptr<OutputBinding> output_;

  std::atomic<unsigned long long> received_{0};
  std::atomic<unsigned long long> delivered_{0};
  std::atomic<unsigned long long> failed_{0};
  std::atomic<unsigned long long> fenced_{0};
  std::atomic<unsigned long long> retried_{0};
  std::atomic<unsigned long long> dead_lettered_{0};
  std::atomic<unsigned long long> in_flight_{0};
  std::atomic<bool> input_down_{false};
  std::atomic<bool> output_down_{false};
  LatencyHistogram latency_;
  PoisonGuard poison_;  // the worker's alone
};

}  // namespace mi::workflow
