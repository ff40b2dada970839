#pragma once
// Runs the real micro-integration binary as a child process for integration tests.
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mi::integration {

class Process {
 public:
  // Starts `binary` with `args` in `cwd`; stdout and stderr go to `log_path`. `env` is added
  // to (and overrides) this process's environment.
  Process(const std::string& binary, const std::vector<std::string>& args,
          const std::filesystem::path& cwd, const std::filesystem::path& log_path,
          const std::map<std::string, std::string>& env = {});
  ~Process();  // kills the child if it still runs
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  void signal_group(int sig) const;  // the child and everything it started
  // Exit code (128+signal if killed), or nothing if still running after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path log_path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago and was not handed out before in this process.
int free_port();

// Resident memory high-water mark of a process (VmHWM), in MiB; -1 if it cannot be read.
long peak_resident_mib(pid_t pid);

// How often `what` occurs in `text`.
int count_of(const std::string& text, const std::string& what);

// Runs the binary to completion (for --check-config and bad configurations).
struct RunResult {
  int exit_code;
  std::string output;  // stdout and stderr together
  std::string stdout_text;
};
RunResult run_to_completion(const std::string& binary, const std::vector<std::string>& args,
                            const std::filesystem::path& cwd,
                            const std::map<std::string, std::string>& env = {});

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);
std::string read_file(const std::filesystem::path& path);

}  // namespace mi::integration
