#include "session/session_core.h"

#include "common/logging.h"

namespace mi::session {

SessionStatus SessionCore::status() const {
  MutexLock lock(mutex_);
  return status_;
}

void SessionCore::set_status(SessionHealth health, const std::string& detail) {
  MutexLock lock(mutex_);
  status_.health = health;
  status_.detail = detail;
  status_.active = active_;
}

void SessionCore::count_reconnect() {
  MutexLock lock(mutex_);
  ++status_.reconnects;
}

void SessionCore::request_stop() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

void SessionCore::request_yield() {
  MutexLock lock(mutex_);
  yield_ = true;
}

bool SessionCore::stop_requested() const {
  MutexLock lock(mutex_);
  return stop_;
}

bool SessionCore::take_yield() {
  MutexLock lock(mutex_);
  const bool asked = yield_;
  yield_ = false;
  return asked;
}

bool SessionCore::wait_or_stop(Millis duration) {
  MutexLock lock(mutex_);
  return clock_.wait_for(lock.native(), cv_, duration, [this]() REQUIRES(mutex_) { return stop_; });
}

void SessionCore::wait_for_stop() {
  MutexLock lock(mutex_);
  cv_.wait(lock.native(), [this]() REQUIRES(mutex_) { return stop_; });
}

unsigned long long SessionCore::epoch_floor() const {
  const auto ms = std::chrono::duration_cast<Millis>(clock_.wall_now().time_since_epoch()).count();
  return ms > 0 ? static_cast<unsigned long long>(ms) : 0;
}

void SessionCore::lose_flow(const std::string& reason, bool lease_expiry) {
  if (!active_) return;
  // Say so when the lease ran out before the loss was noticed (e.g. after SIGSTOP): the
  // workflows were fenced from that moment on.
  const bool lease_had_expired = !gate_.allows(clock_.now());
  // Fence first: from here on no workflow sends anything, whatever the leader does next.
  gate_.close();
  active_ = false;
  {
    MutexLock lock(mutex_);
    status_.active = false;
  }
  logger("leader")->warn("management session: flow inactive: {}{}", reason,
                         lease_had_expired && !lease_expiry ? " (the lease had expired)" : "");
  listener_->flow_inactive(reason);
}

std::optional<std::string> SessionCore::apply(const SessionEffects& effects, Links& links) {
  // The binding ends: lose_flow() closes the gate next, and says whether the lease had run
  // out before.
  if (effects.end_binding) return effects.end_binding;
  if (effects.flow_inactive) {
    lose_flow(*effects.flow_inactive, effects.lease_expired);  // closes the gate first
  } else if (effects.close_gate) {
    gate_.close();
  }
  for (const auto& line : effects.warnings) logger("leader")->warn("management session: {}", line);
  for (const auto& body : effects.publish) links.publish(body);
  for (const auto tag : effects.ack) links.ack(tag);
  if (effects.open_gate_until) {
    if (effects.flow_active) {
      gate_.open_until(*effects.open_gate_until, *effects.flow_active);
    } else {
      gate_.extend_until(*effects.open_gate_until);
    }
  }
  if (effects.flow_active) {
    active_ = true;
    set_status(SessionHealth::kBound, "active on management queue '" + queue_ + "'");
    logger("leader")->info("management session: flow active, term epoch {}", *effects.flow_active);
    listener_->flow_active(*effects.flow_active);
  }
  return std::nullopt;
}

}  // namespace mi::session
