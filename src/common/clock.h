#pragma once
// Time as a dependency: components read time and wait only through a Clock, so tests can
// drive timeouts and back-off with a ManualClock instead of sleeping. Outside common/clock*
// nothing in src/ reads std::chrono's clocks or sleeps by itself (scripts/check-clock-seam.sh,
// run by ctest, fails on a new direct use): code that no test drives in simulated time yet
// asks SystemClock::instance().
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace mi {

using Millis = std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;
  virtual WallTime wall_now() const = 0;
  // Blocks on `cv` (with `lock` held by the caller) until `done()` is true or `timeout`
  // has passed; returns done(). A manual clock advances its time instead of blocking.
  virtual bool wait_for(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                        Millis timeout, const std::function<bool()>& done) = 0;
  // Pauses the calling thread (a manual clock advances instead).
  virtual void sleep_for(Millis duration) = 0;
};

class SystemClock final : public Clock {
 public:
  static SystemClock& instance();
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
  bool wait_for(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Millis timeout,
                const std::function<bool()>& done) override;
  void sleep_for(Millis duration) override;
};

// Milliseconds since the Unix epoch, for JSON and metrics.
long long to_epoch_millis(WallTime t);
// ISO-8601 UTC with milliseconds, e.g. 2026-11-25T17:20:45.123Z.
std::string to_iso8601(WallTime t);

}  // namespace mi
