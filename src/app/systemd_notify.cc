#include "app/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include "common/logging.h"

namespace mi::app {

SystemdNotifier::~SystemdNotifier() { stop_watchdog(); }

void SystemdNotifier::ready(const std::string& status) {
  sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}

// The watchdog pings go on while the workflows stop: a stop may take longer than WatchdogSec.
void SystemdNotifier::stopping() { sd_notify(0, "STOPPING=1\nSTATUS=stopping workflows"); }

void SystemdNotifier::start_watchdog(std::function<bool()> healthy) {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  const auto interval = std::chrono::microseconds(usec / 2);
  logger("app")->info("systemd watchdog: pinging every {} ms while healthy",
                      std::chrono::duration_cast<Millis>(interval).count());
  watchdog_ = std::thread([this, interval, healthy = std::move(healthy)] {
    MutexLock lock(mutex_);
    while (!stop_) {
      lock.unlock();
      if (healthy()) sd_notify(0, "WATCHDOG=1");
      lock.lock();
      stop_changed_.wait_for(lock.native(), interval, [this]() REQUIRES(mutex_) { return stop_; });
    }
  });
}

void SystemdNotifier::stop_watchdog() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
  }
  stop_changed_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

}  // namespace mi::app
