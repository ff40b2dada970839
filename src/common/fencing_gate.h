#pragma once
// Lets workflows do work only while this instance's leadership is confirmed.
//
// The management session opens the gate until the end of its current lease and closes it
// the moment it loses the flow. Workflows ask allows() before sending each message, so a
// workflow that is slow to stop, or a process that resumes after SIGSTOP, does no more
// work once the lease has run out, whatever the other threads are doing.
#include <atomic>
#include <chrono>
#include <limits>

#include "common/clock.h"

namespace mi {

class FencingGate {
 public:
  // Closed; its lease is measured on `clock` (which must outlive the gate).
  explicit FencingGate(const Clock& clock = SystemClock::instance()) : clock_(&clock) {}
  // Standalone and active_active: always open, epoch 0.
  static FencingGate always_open() {
    FencingGate g;
    g.valid_until_ns_ = std::numeric_limits<long long>::max();
    return g;
  }

  void open_until(SteadyTime until, unsigned long long epoch) {
    epoch_.store(epoch);
    valid_until_ns_.store(until.time_since_epoch().count());
  }
  // Only moves the end of the lease forward (a late probe cannot shorten a newer one).
  void extend_until(SteadyTime until) {
    const long long ns = until.time_since_epoch().count();
    long long current = valid_until_ns_.load();
    while (current != 0 && current < ns && !valid_until_ns_.compare_exchange_weak(current, ns)) {
    }
  }
  void close() { valid_until_ns_.store(0); }

  // Whether work may be done now, on the gate's clock: ask right before each write.
  bool allows() const { return allows(clock_->now()); }
  bool allows(SteadyTime now) const { return now.time_since_epoch().count() < valid_until_ns_.load(); }
  // False for always_open() (standalone): there is nothing to fence.
  bool may_close() const { return valid_until_ns_.load() != std::numeric_limits<long long>::max(); }
  SteadyTime valid_until() const { return SteadyTime(SteadyTime::duration(valid_until_ns_.load())); }
  unsigned long long epoch() const { return epoch_.load(); }

  FencingGate(const FencingGate& other)
      : clock_(other.clock_), valid_until_ns_(other.valid_until_ns_.load()), epoch_(other.epoch_.load()) {}

 private:
  const Clock* clock_;
  std::atomic<long long> valid_until_ns_{0};
  std::atomic<unsigned long long> epoch_{0};
};

}  // namespace mi
