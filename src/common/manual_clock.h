#pragma once
// A Clock for tests: time moves only when a test advances it or a component waits on it.
#include <vector>

#include "common/clock.h"

namespace mi::testing {

class ManualClock final : public Clock {
 public:
  SteadyTime now() const override { return steady_; }
  WallTime wall_now() const override { return wall_; }

  // Waiting returns at once: if `done()` is false the clock jumps forward by `timeout`.
  bool wait_for(std::unique_lock<std::mutex>&, std::condition_variable&, Millis timeout,
                const std::function<bool()>& done) override {
    if (done()) return true;
    waits.push_back(timeout);
    advance(timeout);
    return done();
  }

  void advance(Millis d) {
    steady_ += d;
    wall_ += d;
  }

  std::vector<Millis> waits;  // every wait that advanced the clock, in order

 private:
  SteadyTime steady_{std::chrono::hours(1)};
  WallTime wall_{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
};

}  // namespace mi::testing
