#include "workflow/workflow.h"

#include <algorithm>

#include "common/logging.h"

namespace mi::workflow {
namespace {

// How long one receive() may block: bounds how fast the worker notices stop and pause.
constexpr Millis kReceivePoll{100};
constexpr Millis kFirstRetryDelay{100};
constexpr Millis kMaxRetryDelay{5000};
constexpr Millis kFencedPause{50};

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
    : settings_(std::move(settings)), registry_(registry), clock_(clock), gate_(gate) {}

Workflow::~Workflow() {
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (input_) input_->close();
  if (output_) output_->close();
}

bool Workflow::start() {
  std::unique_lock lock(mutex_);
  if (state_ == WorkflowState::kRunning || state_ == WorkflowState::kPaused) return true;
  if (!worker_done_) {
    last_error_ = "the previous run has not stopped yet";
    return false;
  }
  if (worker_.joinable()) worker_.join();
  Binder* in_binder = registry_.find(settings_.input.binder_type);
  Binder* out_binder = registry_.find(settings_.output.binder_type);
  if (!in_binder || !out_binder) {
    record_error("binder type '" + (in_binder ? settings_.output.binder_type : settings_.input.binder_type) +
                 "' is not available");
    return false;
  }
  try {
    input_ = in_binder->create_input(settings_.input);
    output_ = out_binder->create_output(settings_.output);
    output_->open();
    input_->open();
  } catch (const std::exception& e) {
    if (input_) input_->close();
    if (output_) output_->close();
    input_.reset();
    output_.reset();
    record_error(std::string("cannot start: ") + e.what());
    return false;
  }
  stop_requested_ = false;
  worker_done_ = false;
  last_error_.clear();
  state_ = WorkflowState::kRunning;
  worker_ = std::thread([this] { run(); });
  logger("workflow")->info("workflow {} started ({} -> {})", settings_.id,
                           settings_.input.destination, settings_.output.destination);
  return true;
}

bool Workflow::stop(Millis timeout) {
  std::unique_lock lock(mutex_);
  if (state_ == WorkflowState::kStopped) return true;
  stop_requested_ = true;
  cv_.notify_all();
  if (!cv_.wait_for(lock, timeout, [this] { return worker_done_; })) {
    state_ = WorkflowState::kUnknown;
    last_error_ = "did not stop within " + std::to_string(timeout.count()) + " ms";
    logger("workflow")->error("workflow {} {}", settings_.id, last_error_);
    return false;
  }
  lock.unlock();
  if (worker_.joinable()) worker_.join();
  lock.lock();
  if (input_) input_->close();
  if (output_) output_->close();
  input_.reset();
  output_.reset();
  state_ = WorkflowState::kStopped;
  logger("workflow")->info("workflow {} stopped", settings_.id);
  return true;
}

bool Workflow::pause() {
  std::lock_guard lock(mutex_);
  if (state_ == WorkflowState::kPaused) return true;
  if (state_ != WorkflowState::kRunning) return false;
  state_ = WorkflowState::kPaused;
  cv_.notify_all();
  logger("workflow")->info("workflow {} paused", settings_.id);
  return true;
}

bool Workflow::resume() {
  std::lock_guard lock(mutex_);
  if (state_ == WorkflowState::kRunning) return true;
  if (state_ != WorkflowState::kPaused) return false;
  state_ = WorkflowState::kRunning;
  cv_.notify_all();
  logger("workflow")->info("workflow {} resumed", settings_.id);
  return true;
}

WorkflowState Workflow::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

std::string Workflow::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

WorkflowCounters Workflow::counters() const {
  return {received_.load(), delivered_.load(), failed_.load(), fenced_.load()};
}

void Workflow::record_error(const std::string& message) {
  last_error_ = message;
  logger("workflow")->error("workflow {}: {}", settings_.id, message);
}

void Workflow::wait_interruptibly(Millis duration) {
  std::unique_lock lock(mutex_);
  clock_.wait_for(lock, cv_, duration,
                  [this] { return stop_requested_ || state_ == WorkflowState::kPaused; });
}

void Workflow::run() {
  Millis retry_delay = kFirstRetryDelay;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // Paused: hold still (nothing is in hand) until resumed or stopped.
      cv_.wait(lock, [this] { return stop_requested_ || state_ != WorkflowState::kPaused; });
      if (stop_requested_) break;
    }
    std::optional<Delivery> delivery;
    try {
      delivery = input_->receive(kReceivePoll);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mutex_);
        record_error(std::string("input failed: ") + e.what());
      }
      wait_interruptibly(retry_delay);
      retry_delay = std::min(retry_delay * 2, kMaxRetryDelay);
      continue;
    }
    if (!delivery) continue;
    ++received_;
    if (gate_ && !gate_->allows(clock_.now())) {
      // Leadership is not confirmed (lease ran out, or lost): hand the message back.
      ++fenced_;
      input_->reject(*delivery);
      wait_interruptibly(kFencedPause);
      continue;
    }
    try {
      if (gate_ && gate_->epoch() > 0) {
        delivery->message.headers[kLeaderEpochHeader] = std::to_string(gate_->epoch());
      }
      output_->send(delivery->message, gate_);
      input_->ack(*delivery);
      ++delivered_;
      retry_delay = kFirstRetryDelay;
    } catch (const FencedError&) {
      ++fenced_;
      input_->reject(*delivery);
      wait_interruptibly(kFencedPause);
    } catch (const std::exception& e) {
      ++failed_;
      try {
        input_->reject(*delivery);
      } catch (const std::exception& reject_error) {
        logger("workflow")->error("workflow {}: cannot return message to input: {}", settings_.id,
                                  reject_error.what());
      }
      {
        std::lock_guard lock(mutex_);
        record_error(std::string("output failed, message kept at input: ") + e.what());
      }
      // Back off so a broken output or a poison message cannot make the worker spin.
      wait_interruptibly(retry_delay);
      retry_delay = std::min(retry_delay * 2, kMaxRetryDelay);
    }
  }
  std::lock_guard lock(mutex_);
  worker_done_ = true;
  cv_.notify_all();
}

}  // namespace mi::workflow
