#include "common/clock.h"

#include <ctime>
#include <string>
#include <thread>

namespace mi {

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

bool SystemClock::wait_for(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                           Millis timeout, const std::function<bool()>& done) {
  return cv.wait_for(lock, timeout, done);
}

void SystemClock::sleep_for(Millis duration) { std::this_thread::sleep_for(duration); }

long long to_epoch_millis(WallTime t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

std::string to_iso8601(WallTime t) {
  const long long ms = to_epoch_millis(t);
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%.*s.%03lldZ", static_cast<int>(n), buf, ms % 1000);
  return out;
}

}  // namespace mi
