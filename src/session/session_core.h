#pragma once
// What the AMQP 0-9-1 and AMQP 1.0 session drivers share, around their own I/O: the stop and
// yield requests that come from other threads, the status the API shows, the flow they report
// to their listener, and carrying out a protocol step's effects on the fencing gate and the
// listener in the order the protocol requires (session/token_lease_protocol.h).
#include <condition_variable>
#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/fencing_gate.h"
#include "common/mutex.h"
#include "session/management_session.h"
#include "session/token_lease_protocol.h"

namespace mi::session {

class SessionCore {
 public:
  SessionCore(std::string queue, FencingGate& gate, Clock& clock) : queue_(std::move(queue)), gate_(gate), clock_(clock) {}

  // Any thread.
  SessionStatus status() const;
  void set_status(SessionHealth health, const std::string& detail);
  void count_reconnect();
  void request_stop();
  void request_yield();
  bool stop_requested() const;
  // A yield asked for since the last call (and forgotten with this call).
  bool take_yield();
  bool wait_or_stop(Millis duration);  // true if asked to stop
  void wait_for_stop();

  // The session thread only.
  void set_listener(SessionListener& listener) { listener_ = &listener; }
  bool active() const { return active_; }
  SteadyTime now() const { return clock_.now(); }
  // The lowest epoch a seed token may carry: the wall clock in Unix milliseconds.
  unsigned long long epoch_floor() const;
  // Closes the gate first, then reports the flow inactive (if it was active).
  // `lease_expiry`: the reason already says that the lease ran out.
  void lose_flow(const std::string& reason, bool lease_expiry = false);

  // The driver's half of a protocol step: its links to the management queue.
  class Links {
   public:
    virtual ~Links() = default;
    virtual void publish(const std::string& body) = 0;
    virtual void ack(std::uint64_t tag) = 0;
  };
  // Carries out `effects` except resubscribe and check_queue, which only the driver can:
  // fencing first (the binding ends, or the gate closes and the flow is inactive), then
  // publish, ack, open or extend the gate, flow active. Returns why the binding ends, if it
  // does (the driver then ends it and calls lose_flow()).
  std::optional<std::string> apply(const SessionEffects& effects, Links& links);

 private:
  const std::string queue_;
  FencingGate& gate_;
  Clock& clock_;
  SessionListener* listener_ = nullptr;
  bool active_ = false;

  mutable Mutex mutex_;
  std::condition_variable cv_;
  SessionStatus status_ GUARDED_BY(mutex_);
  bool stop_ GUARDED_BY(mutex_) = false;
  bool yield_ GUARDED_BY(mutex_) = false;
};

}  // namespace mi::session
