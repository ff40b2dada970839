#pragma once
// The systemd service protocol (sd_notify(3), through libsystemd): READY=1 once the management
// API listens, STOPPING=1 when a stop begins, and WATCHDOG=1 pings while the process is
// healthy if the unit sets WatchdogSec=. Outside systemd (no NOTIFY_SOCKET) each call does
// nothing, so the binary runs the same under any supervisor.
#include <condition_variable>
#include <functional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"

namespace mi::app {

class SystemdNotifier {
 public:
  SystemdNotifier() = default;
  ~SystemdNotifier();  // stops the watchdog thread
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  void ready(const std::string& status);
  void stopping();
  // If the service manager asked for a watchdog (WATCHDOG_USEC), pings at half its interval,
  // each time only after `healthy` returned true: a thread stuck on a lock it needs stops
  // the pings, and systemd restarts the service.
  void start_watchdog(std::function<bool()> healthy);

 private:
  void stop_watchdog();

  Mutex mutex_;
  std::condition_variable stop_changed_;
  bool stop_ GUARDED_BY(mutex_) = false;
  std::thread watchdog_;
};

}  // namespace mi::app
