#pragma once
// A private Mosquitto MQTT broker for one test: its own directory (configuration, persistence,
// password file, log) and free loopback ports; stopped, killed or paused by the test.
#include <filesystem>
#include <memory>
#include <string>

#include "process.h"

namespace mi::integration {

class MosquittoBroker {
 public:
  explicit MosquittoBroker(const std::filesystem::path& dir);
  ~MosquittoBroker();  // kills the broker if it still runs
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  // These take effect at the next start().
  // A user in the password file (mosquitto_passwd); anonymous clients are still allowed.
  void add_user(const std::string& user, const std::string& password);
  // A TLS listener on tls_port() with this PEM server certificate and key.
  void enable_tls(const std::filesystem::path& cert_file, const std::filesystem::path& key_file);
  // Further mosquitto.conf lines (global options).
  void set_extra_config(const std::string& lines) { extra_ = lines; }

  void start();   // returns when the plain (and TLS) port accepts connections; throws on timeout
  void stop();    // graceful (SIGTERM: the in-memory database is saved); returns when it exited
  void kill();    // SIGKILL: nothing saved since the last autosave
  void pause();   // SIGSTOP: connections stay open, nothing answers
  void resume();  // SIGCONT
  bool running() const { return process_ != nullptr; }

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  std::string log() const;

 private:
  std::filesystem::path dir_;
  int port_;
  int tls_port_ = 0;
  std::filesystem::path cert_file_;
  std::filesystem::path key_file_;
  bool has_password_file_ = false;
  std::string extra_;
  std::unique_ptr<Process> process_;
  int starts_ = 0;
};

}  // namespace mi::integration
