#pragma once
// Where the leadership signal comes from in active_standby. A session binds to the
// management queue; the broker (or the kernel, for the lock-file session) makes exactly one
// bound instance active. The session tells its listener when its flow becomes active or
// inactive and keeps the fencing gate open only while it can vouch for the flow.
#include <string>

#include "common/clock.h"
#include "common/fencing_gate.h"

namespace mi::session {

class SessionListener {
 public:
  virtual ~SessionListener() = default;
  virtual void flow_active(unsigned long long epoch) = 0;
  virtual void flow_inactive(const std::string& reason) = 0;
};

enum class SessionHealth { kConnecting, kBound, kDown };

struct SessionStatus {
  SessionHealth health = SessionHealth::kConnecting;
  std::string detail;                // why it is not bound, in operator words
  unsigned long long reconnects = 0;  // connections after the first
  bool active = false;
};

class ManagementSession {
 public:
  virtual ~ManagementSession() = default;
  // Starts the session's own thread; it keeps running however busy the workflows are.
  virtual void start(SessionListener& listener) = 0;
  // Gives up the flow at once (the workflows are already stopped) and ends the thread.
  virtual void release() = 0;
  // Gives up the flow so that a standby takes over, then binds again as a standby.
  virtual void yield() = 0;
  virtual SessionStatus status() const = 0;
};

}  // namespace mi::session
