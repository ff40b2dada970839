#include "mosquitto_broker.h"

#include <unistd.h>

#include <stdexcept>
#include <thread>

#include "rabbit_broker.h"  // port_open()

namespace mi::integration {

namespace {
constexpr const char* kMosquitto = "/usr/sbin/mosquitto";
constexpr const char* kMosquittoPasswd = "/usr/bin/mosquitto_passwd";
}  // namespace

MosquittoBroker::MosquittoBroker(const std::filesystem::path& dir) : dir_(dir), port_(free_port()) {
  std::filesystem::create_directories(dir_);
  if (access(kMosquitto, X_OK) != 0) throw std::runtime_error("no /usr/sbin/mosquitto: run scripts/install-deps.sh");
}

MosquittoBroker::~MosquittoBroker() {
  if (process_) {
    process_->signal_group(SIGCONT);
    process_->signal_group(SIGKILL);
    process_->wait_exit(std::chrono::seconds(10));
  }
}

void MosquittoBroker::add_user(const std::string& user, const std::string& password) {
  const auto file = dir_ / "passwd";
  const std::vector<std::string> args = has_password_file_ ? std::vector<std::string>{"-b", file.string(), user, password}
                                                           : std::vector<std::string>{"-b", "-c", file.string(), user, password};
  Process p(kMosquittoPasswd, args, dir_, dir_ / "mosquitto_passwd.log");
  const auto code = p.wait_exit(std::chrono::seconds(30));
  if (code != 0) throw std::runtime_error("mosquitto_passwd failed: " + p.log());
  has_password_file_ = true;
}

void MosquittoBroker::enable_tls(const std::filesystem::path& cert_file, const std::filesystem::path& key_file) {
  cert_file_ = cert_file;
  key_file_ = key_file;
  if (tls_port_ == 0) tls_port_ = free_port();
}

void MosquittoBroker::start() {
  if (process_) throw std::runtime_error("mosquitto already runs");
  std::string conf;
  if (geteuid() == 0) conf += "user root\n";  // keep the test's files accessible; no privilege drop
  conf += "allow_anonymous true\n";
  conf += "persistence true\n";
  conf += "persistence_location " + dir_.string() + "/\n";
  conf += "log_dest file " + (dir_ / "mosquitto.log").string() + "\n";  // flushed per line, unlike stdout
  conf += "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
  conf += "connection_messages true\n";
  if (has_password_file_) conf += "password_file " + (dir_ / "passwd").string() + "\n";
  conf += extra_ + "\n";
  conf += "listener " + std::to_string(port_) + " 127.0.0.1\n";
  if (tls_port_ != 0) {
    conf += "listener " + std::to_string(tls_port_) + " 127.0.0.1\n";
    conf += "certfile " + cert_file_.string() + "\n";
    conf += "keyfile " + key_file_.string() + "\n";
  }
  write_file(dir_ / "mosquitto.conf", conf);
  ++starts_;
  process_ = std::make_unique<Process>(kMosquitto, std::vector<std::string>{"-c", (dir_ / "mosquitto.conf").string()},
                                       dir_, dir_ / ("mosquitto-" + std::to_string(starts_) + ".log"));
  for (int i = 0; i < 400; ++i) {  // up to 20 s on a loaded machine
    if (port_open(port_) && (tls_port_ == 0 || port_open(tls_port_))) return;
    if (process_->wait_exit(std::chrono::milliseconds(50))) break;
  }
  const std::string output = process_->log();
  process_.reset();
  throw std::runtime_error("mosquitto did not start; log:\n" + output);
}

void MosquittoBroker::stop() {
  if (!process_) return;
  process_->signal_group(SIGCONT);
  process_->signal_group(SIGTERM);
  if (!process_->wait_exit(std::chrono::seconds(20))) process_->signal_group(SIGKILL);
  process_->wait_exit(std::chrono::seconds(10));
  process_.reset();
}

void MosquittoBroker::kill() {
  if (!process_) return;
  process_->signal_group(SIGCONT);
  process_->signal_group(SIGKILL);
  process_->wait_exit(std::chrono::seconds(10));
  process_.reset();
}

void MosquittoBroker::pause() {
  if (process_) process_->signal_group(SIGSTOP);
}

void MosquittoBroker::resume() {
  if (process_) process_->signal_group(SIGCONT);
}

std::string MosquittoBroker::log() const {
  std::string all;
  for (int i = 1; i <= starts_; ++i) all += read_file(dir_ / ("mosquitto-" + std::to_string(i) + ".log"));  // stdout
  return all + read_file(dir_ / "mosquitto.log");
}

}  // namespace mi::integration
