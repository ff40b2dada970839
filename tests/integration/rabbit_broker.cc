#include "rabbit_broker.h"

#include "amqp/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace mi::integration {

bool port_open(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

RabbitBroker::RabbitBroker(const std::filesystem::path& dir)
    : dir_(dir), node_("mi" + std::to_string(getpid()) + "x" + std::to_string(free_port()) + "@localhost"),
      port_(free_port()), dist_port_(free_port()) {
  std::filesystem::create_directories(dir_);
  write_file(dir_ / "enabled_plugins", "[].\n");
  const passwd* pw = getpwnam("rabbitmq");
  if (!pw) throw std::runtime_error("no rabbitmq user: run scripts/install-deps.sh");
  for (const auto& p : {dir_, dir_ / "enabled_plugins"}) {
    if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("cannot chown " + p.string());
  }
}

RabbitBroker::~RabbitBroker() {
  if (process_) {
    process_->signal_group(SIGKILL);
    process_->wait_exit(std::chrono::seconds(10));
  }
}

void RabbitBroker::start() {
  write_file(dir_ / "rabbitmq.conf", config_);
  write_file(dir_ / "advanced.config", advanced_ + "\n");
  write_file(dir_ / "enabled_plugins", plugins_ + ".\n");
  if (const passwd* pw = getpwnam("rabbitmq")) {
    for (const char* f : {"rabbitmq.conf", "advanced.config", "enabled_plugins"}) {
      if (chown((dir_ / f).c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("cannot chown config");
    }
  }
  const std::map<std::string, std::string> env = {
      {"HOME", dir_.string()},
      {"RABBITMQ_MNESIA_BASE", (dir_ / "mnesia").string()},
      {"RABBITMQ_LOG_BASE", (dir_ / "log").string()},
      {"RABBITMQ_NODENAME", node_},
      {"RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_NODE_PORT", std::to_string(port_)},
      {"RABBITMQ_DIST_PORT", std::to_string(dist_port_)},
      {"RABBITMQ_ENABLED_PLUGINS_FILE", (dir_ / "enabled_plugins").string()},
      {"RABBITMQ_CONFIG_FILE", (dir_ / "rabbitmq").string()},  // rabbitmq.conf
      {"RABBITMQ_ADVANCED_CONFIG_FILE", (dir_ / "advanced.config").string()},
  };
  process_ = std::make_unique<Process>(
      "/usr/bin/setpriv",
      std::vector<std::string>{"--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups",
                               "/usr/lib/rabbitmq/bin/rabbitmq-server"},
      dir_, dir_ / "broker.log", env);
  for (int i = 0; i < 1200; ++i) {  // up to 60 s on a loaded machine
    if (port_open(port_)) return;
    if (process_->wait_exit(std::chrono::milliseconds(50))) break;
  }
  throw std::runtime_error("RabbitMQ did not start; log:\n" + process_->log());
}

void RabbitBroker::stop() {
  if (!process_) return;
  process_->signal_group(SIGTERM);
  for (int i = 0; i < 600 && port_open(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  process_->wait_exit(std::chrono::seconds(30));
  process_->signal_group(SIGKILL);  // anything left of the tree
  process_.reset();
}

std::string RabbitBroker::ctl(const std::string& args) const {
  const std::string cmd = "HOME=" + dir_.string() + " setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups " +
                          "/usr/lib/rabbitmq/bin/rabbitmqctl -n " + node_ + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return out;
}

std::unique_ptr<amqp::RabbitConnection> connect_to_rabbit(int port, const std::string& host) {
  config::BrokerAddress address{"amqp", host, port, ""};
  config::SessionSettings session;
  session.vhost = "/";
  session.username = "guest";
  session.password = "guest";
  session.heartbeat_seconds = 0;
  return std::make_unique<amqp::RabbitConnection>(address, session, Millis{5000});
}

void declare_queue(int port, const std::string& name, bool single_active_consumer) {
  declare_queue_of_type(port, name, single_active_consumer ? "quorum" : "", single_active_consumer);
}

void declare_queue_of_type(int port, const std::string& name, const std::string& type, bool single_active_consumer,
                           const std::string& host) {
  auto connection = connect_to_rabbit(port, host);
  connection->declare_queue(name, type, single_active_consumer);
  connection->close_gracefully();
}

void publish_messages(int port, const std::string& queue, int count, const std::string& prefix) {
  auto c = connect_to_rabbit(port);
  c->enable_confirms();
  for (int i = 0; i < count; ++i) {
    c->publish_confirmed("", queue, prefix + std::to_string(i),
                         {{"correlation-id", "corr-" + std::to_string(i)}, {"content-type", "text/plain"},
                          {"x-custom", "v" + std::to_string(i)}},
                         Millis{5000});
  }
  c->close_gracefully();
}

std::vector<amqp::RabbitConnection::Event> drain_queue(int port, const std::string& queue, size_t expected) {
  auto c = connect_to_rabbit(port);
  c->consume(queue, 500);
  std::vector<amqp::RabbitConnection::Event> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    auto e = c->next_event(Millis{100});
    if (e.kind != amqp::RabbitConnection::Event::kDelivery) {
      if (out.size() >= expected && std::chrono::steady_clock::now() - last > std::chrono::seconds(1)) break;
      continue;
    }
    c->ack(e.tag, false);
    out.push_back(std::move(e));
    last = std::chrono::steady_clock::now();
  }
  c->close_gracefully();
  return out;
}

}  // namespace mi::integration
