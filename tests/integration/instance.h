#pragma once
// One running micro-integration with the file binder, its directories and an HTTP client.
#include <httplib.h>

#include <memory>

#include "process.h"

namespace mi::integration {

inline constexpr const char* kAdminUser = "admin";
inline constexpr const char* kAdminPassword = "admin-secret-pw";
inline constexpr const char* kReaderUser = "reader";
inline constexpr const char* kReaderPassword = "reader-secret-pw";

// server.address/port on loopback and solace.connector.security.users reader and admin; the
// YAML ends inside `solace: connector:`, so more of it may follow at four spaces.
std::string server_and_users_config(int port);
// A standalone config with workflow 0 (inbox -> outbox) and users reader and admin.
std::string standalone_config(int port);

class Instance {
 public:
  // Writes `config_yaml` to application.yml in `dir`, starts the binary there and waits
  // until /actuator/health answers. `launcher` (e.g. setpriv and its options) runs the binary.
  Instance(const std::filesystem::path& dir, const std::string& config_yaml, int port,
           std::vector<std::string> extra_args = {}, const std::vector<std::string>& launcher = {});

  httplib::Client client(const char* user = kReaderUser, const char* password = kReaderPassword) const;
  httplib::Client anonymous_client() const;
  // Workflow `workflow`'s delivered count from /actuator/workflows/N; -1 if it gives none.
  int delivered(int workflow = 0) const;
  Process& process() { return *process_; }
  const std::filesystem::path& dir() const { return dir_; }
  int port() const { return port_; }

 private:
  std::filesystem::path dir_;
  int port_;
  std::unique_ptr<Process> process_;
};

// Polls `pred` every 10 ms for up to `timeout`; the deadline only guards against hangs.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace mi::integration
