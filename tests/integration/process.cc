#include "process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mi::integration {
namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Process::Process(const std::string& binary, const std::vector<std::string>& args,
                 const std::filesystem::path& cwd, const std::filesystem::path& log_path,
                 const std::map<std::string, std::string>& env)
    : log_path_(log_path) {
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (!env.count(name)) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);  // own process group, so a test can signal a whole tree (a broker)
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    // Nothing else of the test process may live on in the child: an inherited socket (a
    // TCP proxy's, a test's broker connection) would stay open after the test closed it,
    // so the broker would not see the close until the child exits.
    close_range(3, ~0U, 0);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
}

Process::~Process() {
  if (!exit_code_ && pid_ > 0) {
    ::kill(-pid_, SIGCONT);  // a stopped child cannot die until continued
    ::kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

void Process::signal(int sig) const { ::kill(pid_, sig); }

void Process::signal_group(int sig) const { ::kill(-pid_, sig); }

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = decode_status(status);
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

std::string Process::log() const { return read_file(log_path_); }

int free_port() {
  // Never the same port twice in one process: once its socket is closed, the kernel may give
  // a port to the next bind(0) again. A broker's AMQP and Erlang distribution ports once came
  // out equal; the distribution listener took the port, the AMQP listener failed with
  // eaddrinuse, and the port looked open all the same.
  static std::mutex mutex;
  static std::set<int> handed_out;
  for (;;) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    close(fd);
    std::lock_guard lock(mutex);
    if (handed_out.insert(port).second) return port;
  }
}

RunResult run_to_completion(const std::string& binary, const std::vector<std::string>& args,
                            const std::filesystem::path& cwd,
                            const std::map<std::string, std::string>& env) {
  const auto log = cwd / ".run-output.log";
  // stdout separately: --check-config prints the effective configuration there.
  std::vector<std::string> wrapped = {"-c", "exec \"$0\" \"$@\" 2>\"" + log.string() + ".err\""};
  wrapped.push_back(binary);
  wrapped.insert(wrapped.end(), args.begin(), args.end());
  Process p("/bin/sh", wrapped, cwd, log, env);
  const auto code = p.wait_exit(std::chrono::seconds(30));
  RunResult r{code.value_or(-1), "", read_file(log)};
  r.output = r.stdout_text + read_file(log.string() + ".err");
  std::filesystem::remove(log);
  std::filesystem::remove(log.string() + ".err");
  return r;
}

TempDir::TempDir(const std::string& name)
    : path_(std::filesystem::temp_directory_path() / ("mi-it-" + name + "-" + std::to_string(getpid()))) {
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

long peak_resident_mib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  }
  return -1;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace mi::integration
