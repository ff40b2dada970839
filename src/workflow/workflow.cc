#include "workflow/workflow.h"

#include <algorithm>
#include <cstdlib>

#include "common/logging.h"
#include "common/printable.h"

namespace mi::workflow {
namespace {

// How long one receive() may block: bounds how fast the worker notices stop and pause.
constexpr Millis kReceivePoll{100};
constexpr Millis kFencedPause{50};

#ifndef NDEBUG
// Test-only, in debug builds (the sanitizer presets the integration tests run): the process
// aborts on a message whose payload is exactly MI_TEST_CRASH_ON_PAYLOAD, a crash the poison
// guard's tests can cause on purpose. Release builds have no such switch.
const char* const kCrashOnPayload = std::getenv("MI_TEST_CRASH_ON_PAYLOAD");
#endif

}  // namespace

std::string_view to_string(WorkflowState state) {
  switch (state) {
    case WorkflowState::kRunning: return "running";
    case WorkflowState::kStopped: return "stopped";
    case WorkflowState::kPaused: return "paused";
    case WorkflowState::kUnknown: return "unknown";
  }
  return "unknown";
}

Workflow::Workflow(config::WorkflowSettings settings, const BinderRegistry& registry, Clock& clock,
                   const FencingGate* gate)
    : settings_(std::move(settings)),
      registry_(registry),
      clock_(clock),
      gate_(gate),
      poison_(settings_.poison.directory, settings_.poison.record_name, settings_.poison.max_crashes) {}

Workflow::~Workflow() {
  MutexLock control(control_mutex_);
  {
    MutexLock lock(mutex_);
    stop_requested_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (input_) input_->close();
  if (output_) output_->close();
}

bool Workflow::start() {
  MutexLock control(control_mutex_);
  MutexLock lock(mutex_);
  const bool on = state_ == WorkflowState::kRunning || state_ == WorkflowState::kPaused;
  if (on && !stop_requested_) return true;
  if (!worker_done_) {
    // Still winding down after request_stop() or a stop that timed out: the caller retries.
    last_error_ = "the previous run has not stopped yet";
    return false;
  }
  lock.unlock();
  if (worker_.joinable()) worker_.join();
  // The previous run's bindings, if a stop was asked for but not waited on.
  if (input_) input_->close();
  if (output_) output_->close();
  Binder* in_binder = registry_.find(settings_.input.binder_type);
  Binder* out_binder = registry_.find(settings_.output.binder_type);
  std::unique_ptr<InputBinding> input;
  std::unique_ptr<OutputBinding> output;
  std::string failure;
  if (!in_binder || !out_binder) {
    failure = "binder type '" + (in_binder ? settings_.output.binder_type : settings_.input.binder_type) +
              "' is not available";
  } else {
    try {
      input = in_binder->create_input(settings_.input);
      output = out_binder->create_output(settings_.output);
    } catch (const std::exception& e) {
      failure = std::string("cannot start: ") + e.what();
    }
  }
  lock.lock();
  if (!failure.empty()) {
    record_error(failure);
    return false;
  }
  // The worker is not running: nothing else touches the bindings until it is started.
  input_ = std::move(input);
  output_ = std::move(output);
  stop_requested_ = false;
  worker_done_ = false;
  last_error_.clear();
  input_down_ = true;  // until the worker has opened them: health says RECONNECTING meanwhile
  output_down_ = true;
  state_ = WorkflowState::kRunning;
  worker_ = std::thread([this] { run(); });
  return true;
}

void Workflow::request_stop() {
  {
    MutexLock lock(mutex_);
    if (state_ == WorkflowState::kStopped) return;
    stop_requested_ = true;
  }
  cv_.notify_all();
}

bool Workflow::stop(Millis timeout) {
  MutexLock control(control_mutex_);
  MutexLock lock(mutex_);
  if (state_ == WorkflowState::kStopped) return true;
  stop_requested_ = true;
  cv_.notify_all();
  if (!cv_.wait_for(lock.native(), timeout, [this]() REQUIRES(mutex_) { return worker_done_; })) {
    state_ = WorkflowState::kUnknown;
    last_error_ = "did not stop within " + std::to_string(timeout.count()) + " ms";
    logger("workflow")->error("workflow {} {}", settings_.id, last_error_);
    return false;
  }
  lock.unlock();
  if (worker_.joinable()) worker_.join();
  // The worker has ended: the bindings are this thread's alone.
  if (input_) input_->close();
  if (output_) output_->close();
  input_.reset();
  output_.reset();
  input_down_ = false;
  output_down_ = false;
  lock.lock();
  state_ = WorkflowState::kStopped;
  logger("workflow")->info("workflow {} stopped", settings_.id);
  return true;
}

bool Workflow::pause() {
  MutexLock control(control_mutex_);
  MutexLock lock(mutex_);
  if (state_ == WorkflowState::kPaused) return true;
  if (state_ != WorkflowState::kRunning) return false;
  state_ = WorkflowState::kPaused;
  cv_.notify_all();
  logger("workflow")->info("workflow {} paused", settings_.id);
  return true;
}

bool Workflow::resume() {
  MutexLock control(control_mutex_);
  MutexLock lock(mutex_);
  if (state_ == WorkflowState::kRunning) return true;
  if (state_ != WorkflowState::kPaused) return false;
  state_ = WorkflowState::kRunning;
  cv_.notify_all();
  logger("workflow")->info("workflow {} resumed", settings_.id);
  return true;
}

WorkflowState Workflow::state() const {
  MutexLock lock(mutex_);
  return state_;
}

std::string Workflow::last_error() const {
  MutexLock lock(mutex_);
  return last_error_;
}

WorkflowCounters Workflow::counters() const {
  return {received_.load(), delivered_.load(),      failed_.load(),   retried_.load(),
          dead_lettered_.load(), fenced_.load(), in_flight_.load()};
}

bool Workflow::reconnecting() const { return input_down_.load() || output_down_.load(); }

void Workflow::record_error(const std::string& message) {
  last_error_ = message;
  logger("workflow")->error("workflow {}: {}", settings_.id, message);
}

void Workflow::wait_interruptibly(Millis duration) {
  MutexLock lock(mutex_);
  clock_.wait_for(lock.native(), cv_, duration,
                  [this]() REQUIRES(mutex_) { return stop_requested_ || state_ == WorkflowState::kPaused; });
}

bool Workflow::wait_unless_stopping(Millis duration) {
  MutexLock lock(mutex_);
  clock_.wait_for(lock.native(), cv_, duration, [this]() REQUIRES(mutex_) { return stop_requested_; });
  return !stop_requested_;
}

Millis Workflow::next_delay(Millis delay) const {
  const double grown = static_cast<double>(delay.count()) * settings_.retry.multiplier;
  return std::min(Millis{static_cast<long long>(grown)}, settings_.retry.max_interval);
}

void Workflow::set_down(bool input_side, bool down, const std::string& why) {
  auto& flag = input_side ? input_down_ : output_down_;
  const bool was = flag.exchange(down);
  if (down) {
    MutexLock lock(mutex_);
    record_error(std::string(input_side ? "input" : "output") + " unavailable, reconnecting: " + why);
  } else if (was) {
    logger("workflow")->info("workflow {}: {} reconnected", settings_.id, input_side ? "input" : "output");
  }
}

void Workflow::settle(const Delivery& delivery, bool acknowledge) {
  try {
    if (acknowledge) {
      input_->ack(delivery);
    } else {
      input_->reject(delivery);
    }
  } catch (const std::exception& e) {
    // The input's broker is gone; it redelivers whatever was not acknowledged.
    set_down(true, true, std::string("cannot settle a message: ") + e.what());
  }
}

bool Workflow::open_bindings() {
  Millis delay = settings_.retry.initial_interval;
  for (;;) {
    {
      MutexLock lock(mutex_);
      if (stop_requested_) return false;
    }
    bool output_side = output_down_.load();  // the side being opened, for the error
    try {
      if (output_side) {
        output_->open();
        output_down_ = false;
        output_side = false;
      }
      input_->open();
      input_down_ = false;
      logger("workflow")->info("workflow {} started ({} -> {})", settings_.id, settings_.input.destination,
                               settings_.output.destination);
      return true;
    } catch (const std::exception& e) {
      MutexLock lock(mutex_);
      record_error(std::string("cannot open the ") + (output_side ? "output" : "input") + ", trying again in " +
                   std::to_string(delay.count()) + " ms: " + e.what());
    }
    if (!wait_unless_stopping(delay)) return false;
    delay = next_delay(delay);
  }
}

void Workflow::run() {
  try {
    // Once per process: a later start of the workflow finds it open.
    if (const int in_hand = poison_.open(); in_hand > 0) {
      logger("workflow")->warn("workflow {}: the process ended while it held {} message(s) of this workflow; "
                               "each goes to the output alone now, and one the process has died holding {} "
                               "times is set aside (consumer.max-crashes)",
                               settings_.id, in_hand, settings_.poison.max_crashes);
    }
  } catch (const std::exception& e) {
    logger("workflow")->error("workflow {}: {}; a message that crashes the process will not be set aside "
                              "(solace.connector.poison-guard.directory)",
                              settings_.id, e.what());
  }
  if (open_bindings()) move_messages();
  MutexLock lock(mutex_);
  worker_done_ = true;
  cv_.notify_all();
}

void Workflow::move_messages() {
  // Broker outages (either side) and poison messages back off the same way, so neither a
  // dead broker nor a message that can never be delivered makes the worker spin.
  Millis outage_delay = settings_.retry.initial_interval;
  const std::size_t window = static_cast<std::size_t>(std::max(1, settings_.acknowledgment.window()));
  bool probing = false;  // after an outage: one message at a time until one gets through
  std::vector<InHand> batch;
  for (;;) {
    {
      MutexLock lock(mutex_);
      // Paused: hold still (nothing is in hand) until resumed or stopped.
      cv_.wait(lock.native(), [this]() REQUIRES(mutex_) { return stop_requested_ || state_ != WorkflowState::kPaused; });
      if (stop_requested_) break;
    }
    batch.clear();
    try {
      auto first = input_->receive(kReceivePoll);
      set_down(true, false, "");
      if (!first) continue;
      batch.push_back({std::move(*first), clock_.now()});
      // Take what is already waiting, up to the window, without blocking.
      const std::size_t limit = probing ? 1 : window;
      while (batch.size() < limit) {
        auto more = input_->receive(Millis{0});
        if (!more) break;
        batch.push_back({std::move(*more), clock_.now()});
      }
    } catch (const std::exception& e) {
      // Hand back what this batch already took (a broker requeues the deliveries of a broken
      // connection by itself; a spool directory does not).
      for (auto& m : batch) settle(m.delivery, false);
      set_down(true, true, e.what());
      wait_interruptibly(outage_delay);
      outage_delay = next_delay(outage_delay);
      continue;
    }
    received_ += batch.size();
    if (process(batch)) {
      outage_delay = settings_.retry.initial_interval;
      probing = false;
    } else {
      probing = true;
      wait_interruptibly(outage_delay);
      outage_delay = next_delay(outage_delay);
    }
  }
}

bool Workflow::process(std::vector<InHand>& batch) {
  in_flight_ = batch.size();
  // Whatever way this returns, everything in the batch is settled by then.
  struct InFlightReset {
    std::atomic<unsigned long long>& gauge;
    ~InFlightReset() { gauge = 0; }
  } reset{in_flight_};

  if (gate_ && !gate_->allows(clock_.now())) {
    // Leadership is not confirmed (lease ran out, or lost): hand the messages back.
    fenced_ += batch.size();
    for (auto& m : batch) settle(m.delivery, false);
    wait_interruptibly(kFencedPause);
    return true;
  }
  if (poison_.enabled()) {
    for (auto& m : batch) m.fingerprint = PoisonGuard::fingerprint(m.delivery.message);
  }
  set_aside_poison(batch);
  if (batch.size() > 1 && poison_.enabled() &&
      std::any_of(batch.begin(), batch.end(), [&](const InHand& m) { return poison_.crashes(m.fingerprint) > 0; })) {
    // The process died holding one of these before: each goes alone, so that a death blames
    // the one message that caused it and not the others of its batch.
    bool output_up = true;
    for (auto& m : batch) {
      std::vector<InHand> one;
      one.push_back(std::move(m));
      if (output_up) {
        output_up = send(one);
      } else {
        settle(one.front().delivery, false);
      }
    }
    return output_up;
  }
  return send(batch);
}

bool Workflow::send(std::vector<InHand>& batch) {
  if (batch.empty()) return true;
  // Cleared once everything sent is settled, whatever way this returns.
  struct InHandRecordCleared {
    PoisonGuard& poison;
    ~InHandRecordCleared() { poison.settled(); }
  } cleared{poison_};
  std::vector<std::uint64_t> fingerprints;
  if (poison_.enabled()) {
    for (const auto& m : batch) fingerprints.push_back(m.fingerprint);
    try {
      poison_.taking(fingerprints);
    } catch (const std::exception& e) {
      logger("workflow")->warn("workflow {}: {}", settings_.id, e.what());
    }
  }
#ifndef NDEBUG
  for (const auto& m : batch) {
    if (kCrashOnPayload && m.delivery.message.payload == kCrashOnPayload) std::abort();
  }
#endif
  std::vector<const Message*> messages;
  messages.reserve(batch.size());
  const std::string epoch = gate_ && gate_->epoch() > 0 ? std::to_string(gate_->epoch()) : "";
  for (auto& m : batch) {
    if (!epoch.empty()) m.delivery.message.headers[kLeaderEpochHeader] = epoch;
    messages.push_back(&m.delivery.message);
  }
  std::vector<SendOutcome> outcomes;
  try {
    outcomes = output_->send_batch(messages, gate_, settings_.acknowledgment.publish_timeout);
  } catch (const std::exception& e) {
    outcomes.assign(batch.size(), SendOutcome{SendResult::kUnavailable, e.what()});
  }
  outcomes.resize(batch.size(), SendOutcome{SendResult::kUnavailable, "no outcome reported"});

  bool output_up = true;
  std::string outage;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& m = batch[i];
    switch (outcomes[i].result) {
      case SendResult::kDelivered:
        settle(m.delivery, true);
        ++delivered_;
        latency_.observe(clock_.now() - m.taken);
        set_down(false, false, "");
        if (!fingerprints.empty()) poison_.forget(fingerprints[i]);
        break;
      case SendResult::kFenced:
        ++fenced_;
        settle(m.delivery, false);
        break;
      case SendResult::kUnavailable:
        ++failed_;
        settle(m.delivery, false);
        if (output_up) outage = outcomes[i].error;
        output_up = false;
        break;
      case SendResult::kRefused:
        ++failed_;
        if (!output_up) {
          settle(m.delivery, false);  // the output is down anyway; try again after reconnecting
        } else if (!retry_refused(m, outcomes[i].error)) {
          output_up = false;
          outage = "output lost while retrying a refused message";
        }
        break;
    }
  }
  if (!output_up) set_down(false, true, outage + " (messages handed back to the input)");
  return output_up;
}

void Workflow::set_aside_poison(std::vector<InHand>& batch) {
  if (!poison_.enabled()) return;
  bool handed_back = false;
  std::erase_if(batch, [&](InHand& m) {
    const std::uint64_t fingerprint = m.fingerprint;
    if (!poison_.is_poison(fingerprint)) return false;
    const int crashes = poison_.crashes(fingerprint);
    const auto& headers = m.delivery.message.headers;
    std::string which = "a message of " + std::to_string(m.delivery.message.payload.size()) + " bytes";
    // Names from producers: printable, so a name cannot forge log lines.
    if (auto file = headers.find("file_name"); file != headers.end()) {
      which = "file " + printable(file->second);
    } else if (auto id = headers.find("message-id"); id != headers.end()) {
      which = "message " + printable(id->second);
    }
    const std::string reason = "the process died " + std::to_string(crashes) + " times while holding it";
    bool moved = false;
    try {
      moved = input_->set_aside(m.delivery, reason);
    } catch (const std::exception& e) {
      logger("workflow")->error("workflow {}: cannot set aside {}: {}", settings_.id, which, e.what());
    }
    if (moved) {
      ++dead_lettered_;
      poison_.forget(fingerprint);
      logger("workflow")->error("workflow {}: {} set aside: {} (consumer.max-crashes {}); see the input's "
                                "dead-letter destination or <spool>/.rejected/",
                                settings_.id, which, reason, settings_.poison.max_crashes);
    } else {
      settle(m.delivery, false);
      handed_back = true;
      MutexLock lock(mutex_);
      record_error(which + ": " + reason + "; handed back, as the input has no dead-letter destination to set it "
                   "aside in (configure one)");
      logger("workflow")->error("workflow {}: {}", settings_.id, last_error_);
    }
    return true;
  });
  // Offered again at once by the input: wait the longest back-off first, as for a refused one.
  if (handed_back) wait_interruptibly(settings_.retry.max_interval);
}

bool Workflow::retry_refused(InHand& in_hand, std::string error) {
  Millis delay = settings_.retry.initial_interval;
  {
    MutexLock lock(mutex_);
    record_error("output refused a message (" + error + "); retrying");
  }
  for (int attempt = 2; attempt <= settings_.retry.max_attempts; ++attempt) {
    logger("workflow")->warn("workflow {}: output refused a message ({}); attempt {} of {} in {} ms", settings_.id,
                             error, attempt, settings_.retry.max_attempts, delay.count());
    if (!wait_unless_stopping(delay)) {
      settle(in_hand.delivery, false);
      return true;
    }
    delay = next_delay(delay);
    ++retried_;
    SendOutcome outcome{SendResult::kFenced, "leadership not confirmed"};
    if (!gate_ || gate_->allows(clock_.now())) {
      try {
        auto outcomes = output_->send_batch({&in_hand.delivery.message}, gate_, settings_.acknowledgment.publish_timeout);
        if (!outcomes.empty()) outcome = outcomes.front();
      } catch (const std::exception& e) {
        outcome = {SendResult::kUnavailable, e.what()};
      }
    }
    switch (outcome.result) {
      case SendResult::kDelivered:
        settle(in_hand.delivery, true);
        ++delivered_;
        latency_.observe(clock_.now() - in_hand.taken);
        return true;
      case SendResult::kFenced:
        ++fenced_;
        settle(in_hand.delivery, false);
        return true;
      case SendResult::kUnavailable:
        ++failed_;
        settle(in_hand.delivery, false);
        return false;
      case SendResult::kRefused:
        ++failed_;
        error = outcome.error;
        break;
    }
  }
  try {
    if (input_->dead_letter(in_hand.delivery, error)) {
      ++dead_lettered_;
      logger("workflow")->error("workflow {}: output refused a message {} times ({}); moved it to the dead-letter "
                                "destination",
                                settings_.id, settings_.retry.max_attempts, error);
      return true;
    }
  } catch (const std::exception& e) {
    logger("workflow")->error("workflow {}: cannot dead-letter a message: {}", settings_.id, e.what());
  }
  settle(in_hand.delivery, false);
  {
    MutexLock lock(mutex_);
    record_error("output refused a message " + std::to_string(settings_.retry.max_attempts) + " times (" + error +
                 "); handed it back to the input (configure a dead-letter destination to move such messages aside)");
  }
  // The input will offer the same message again: wait the longest back-off first.
  wait_interruptibly(settings_.retry.max_interval);
  return true;
}

}  // namespace mi::workflow
