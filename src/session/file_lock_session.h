#pragma once
// A management session for instances on one host (or a file system with working locks):
// the active instance holds an OFD write lock on `<dir>/<queue>`. The kernel releases it
// when the holder dies, and a standby blocked in F_OFD_SETLKW gets it at once: no polling,
// no broker. The lock file also keeps the fencing epoch.
//
// There is no lease here: a frozen (SIGSTOP) holder keeps its lock, so nobody takes over
// until it resumes or dies. Use the RabbitMQ session where that matters.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/mutex.h"
#include "session/management_session.h"

namespace mi::session {

class FileLockSession final : public ManagementSession {
 public:
  FileLockSession(std::filesystem::path lock_file, FencingGate& gate, Millis retry_wait);
  ~FileLockSession() override;

  void start(SessionListener& listener) override;
  void release() override;
  void yield() override;
  SessionStatus status() const override;

 private:
  void run();
  bool acquire_lock(int fd);  // blocks until locked; false if interrupted to stop
  unsigned long long next_epoch(int fd);
  void set_status(SessionHealth health, const std::string& detail, bool active);

  const std::filesystem::path lock_file_;
  FencingGate& gate_;
  const Millis retry_wait_;
  SessionListener* listener_ = nullptr;

  mutable Mutex mutex_;
  std::condition_variable cv_;
  SessionStatus status_ GUARDED_BY(mutex_);
  bool stop_ GUARDED_BY(mutex_) = false;
  bool yield_ GUARDED_BY(mutex_) = false;
  std::atomic<bool> thread_done_{false};
  std::thread thread_;
};

}  // namespace mi::session
