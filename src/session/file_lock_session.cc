#include "session/file_lock_session.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/logging.h"

namespace mi::session {
namespace {

// SIGUSR1 only interrupts the blocking lock wait (EINTR); the handler does nothing.
void install_wakeup_handler() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: fcntl must return EINTR
    sigaction(SIGUSR1, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

flock whole_file(short type) {
  flock fl{};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  return fl;
}

}  // namespace

FileLockSession::FileLockSession(std::filesystem::path lock_file, FencingGate& gate, Millis retry_wait)
    : lock_file_(std::move(lock_file)), gate_(gate), retry_wait_(retry_wait) {
  install_wakeup_handler();
}

FileLockSession::~FileLockSession() { release(); }

void FileLockSession::start(SessionListener& listener) {
  listener_ = &listener;
  thread_ = std::thread([this] { run(); });
}

void FileLockSession::release() {
  {
    MutexLock lock(mutex_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  while (thread_.joinable() && !thread_done_.load()) {
    cv_.notify_all();
    pthread_kill(thread_.native_handle(), SIGUSR1);
    SystemClock::instance().sleep_for(Millis{2});
  }
  if (thread_.joinable()) thread_.join();
}

void FileLockSession::yield() {
  MutexLock lock(mutex_);
  if (status_.active) yield_ = true;
  cv_.notify_all();
}

SessionStatus FileLockSession::status() const {
  MutexLock lock(mutex_);
  return status_;
}

void FileLockSession::set_status(SessionHealth health, const std::string& detail, bool active) {
  MutexLock lock(mutex_);
  status_.health = health;
  status_.detail = detail;
  status_.active = active;
}

bool FileLockSession::acquire_lock(int fd) {
  for (;;) {
    flock fl = whole_file(F_WRLCK);
    if (fcntl(fd, F_OFD_SETLKW, &fl) == 0) return true;
    if (errno != EINTR) {
      set_status(SessionHealth::kDown, "cannot lock " + lock_file_.string() + ": " + std::strerror(errno), false);
      return false;
    }
    MutexLock lock(mutex_);
    if (stop_) return false;
  }
}

unsigned long long FileLockSession::next_epoch(int fd) {
  char buf[64] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  const unsigned long long previous = n > 0 ? std::strtoull(buf, nullptr, 10) : 0;
  const std::string text = std::to_string(previous + 1) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
      fsync(fd) != 0) {
    logger("leader")->warn("cannot record the epoch in {}: {}", lock_file_.string(), std::strerror(errno));
  }
  return previous + 1;
}

void FileLockSession::run() {
  auto log = logger("leader");
  while (true) {
    {
      MutexLock lock(mutex_);
      if (stop_) break;
    }
    std::error_code ignored;
    std::filesystem::create_directories(lock_file_.parent_path(), ignored);
    const int fd = ::open(lock_file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      set_status(SessionHealth::kDown, "cannot open lock file " + lock_file_.string() + ": " + std::strerror(errno), false);
      log->error("management session: {}", status().detail);
      MutexLock lock(mutex_);
      cv_.wait_for(lock.native(), retry_wait_, [this]() REQUIRES(mutex_) { return stop_; });
      continue;
    }
    set_status(SessionHealth::kBound, "waiting for the lock on " + lock_file_.string(), false);
    log->info("management session bound to {} (standby until the lock is free)", lock_file_.string());
    if (!acquire_lock(fd)) {
      ::close(fd);
      if (status().health == SessionHealth::kDown) {
        MutexLock lock(mutex_);
        cv_.wait_for(lock.native(), retry_wait_, [this]() REQUIRES(mutex_) { return stop_; });
        continue;
      }
      break;
    }
    const unsigned long long epoch = next_epoch(fd);
    set_status(SessionHealth::kBound, "holding the lock on " + lock_file_.string(), true);
    gate_.open_until(SteadyTime::max(), epoch);
    log->info("management session: flow active (lock acquired, epoch {})", epoch);
    listener_->flow_active(epoch);
    bool stopping = false;
    {
      MutexLock lock(mutex_);
      cv_.wait(lock.native(), [this]() REQUIRES(mutex_) { return stop_ || yield_; });
      stopping = stop_;
      yield_ = false;
    }
    gate_.close();
    listener_->flow_inactive(stopping ? "released" : "yielded");
    set_status(SessionHealth::kBound, "released the lock on " + lock_file_.string(), false);
    ::close(fd);  // closing the last descriptor of the open file description drops the OFD lock
    log->info("management session: flow {}", stopping ? "released" : "yielded");
    if (stopping) break;
    // Give a waiting standby the chance to take the lock before binding again.
    MutexLock lock(mutex_);
    cv_.wait_for(lock.native(), retry_wait_, [this]() REQUIRES(mutex_) { return stop_; });
  }
  thread_done_.store(true);
}

}  // namespace mi::session
