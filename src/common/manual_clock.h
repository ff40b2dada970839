#pragma once
// A Clock for tests: time moves only when a test advances it or a component waits on it.
// Thread-safe: a workflow's worker may wait on it while the test reads it.
#include <mutex>
#include <vector>

#include "common/clock.h"

namespace mi::testing {

class ManualClock final : public Clock {
 public:
  SteadyTime now() const override {
    std::lock_guard lock(mutex_);
    return steady_;
  }
  WallTime wall_now() const override {
    std::lock_guard lock(mutex_);
    return wall_;
  }

  // Waiting returns at once: if `done()` is false the clock jumps forward by `timeout`.
  bool wait_for(std::unique_lock<std::mutex>&, std::condition_variable&, Millis timeout,
                const std::function<bool()>& done) override {
    if (done()) return true;
    {
      std::lock_guard lock(mutex_);
      waits_.push_back(timeout);
    }
    advance(timeout);
    return done();
  }

  void sleep_for(Millis duration) override {
    {
      std::lock_guard lock(mutex_);
      waits_.push_back(duration);
    }
    advance(duration);
  }

  void advance(Millis d) {
    std::lock_guard lock(mutex_);
    steady_ += d;
    wall_ += d;
  }

  // Every wait and sleep that advanced the clock, in order.
  std::vector<Millis> waits() const {
    std::lock_guard lock(mutex_);
    return waits_;
  }

 private:
  mutable std::mutex mutex_;
  SteadyTime steady_{std::chrono::hours(1)};
  WallTime wall_{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
  std::vector<Millis> waits_;
};

}  // namespace mi::testing
