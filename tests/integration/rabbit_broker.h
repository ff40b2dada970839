#pragma once
// A private RabbitMQ broker for one test: its own data directory, node name and free ports,
// started as the rabbitmq user without systemd, stopped (or killed) by the test.
#include <memory>
#include <string>
#include <vector>

#include "amqp/connection.h"
#include "process.h"

namespace mi::integration {

class RabbitBroker {
 public:
  explicit RabbitBroker(const std::filesystem::path& dir);
  ~RabbitBroker();

  // rabbitmq.conf lines for the next start (e.g. a TLS listener); empty: defaults.
  void set_config(const std::string& rabbitmq_conf) { config_ = rabbitmq_conf; }
  // Erlang terms for advanced.config, e.g. "[{rabbit, [{channel_tick_interval, 1000}]}]."
  void set_advanced_config(const std::string& terms) { advanced_ = terms; }
  // Plugins to enable at the next start, as an Erlang list, e.g. "[rabbitmq_shovel]".
  void set_plugins(const std::string& erlang_list) { plugins_ = erlang_list; }
  void start();  // returns when the AMQP port accepts connections; throws on timeout
  // The process group the broker runs in (its Erlang VM and helpers), for CPU accounting.
  pid_t process_group() const { return process_ ? process_->pid() : -1; }
  void stop();   // graceful; returns when the AMQP port is closed
  int port() const { return port_; }
  std::string url() const { return "amqp://127.0.0.1:" + std::to_string(port_); }
  // Runs rabbitmqctl against this node; returns its output.
  std::string ctl(const std::string& args) const;

 private:
  std::filesystem::path dir_;
  std::string node_;
  int port_;
  int dist_port_;
  std::string config_;
  std::string advanced_ = "[].";
  std::string plugins_ = "[]";
  std::unique_ptr<Process> process_;
};

bool port_open(int port);

// A guest connection to a test broker (on loopback unless `host` says otherwise).
std::unique_ptr<amqp::RabbitConnection> connect_to_rabbit(int port, const std::string& host = "127.0.0.1");

// Declares a queue: management-style (quorum, single active consumer) or plain classic.
void declare_queue(int port, const std::string& name, bool single_active_consumer);

// Declares a durable queue of the given type ("classic", "quorum", or "" for none given), with
// or without x-single-active-consumer: e.g. a classic single-active-consumer queue, as an
// operator may have made a management queue by hand.
void declare_queue_of_type(int port, const std::string& name, const std::string& type, bool single_active_consumer,
                           const std::string& host = "127.0.0.1");

// Publishes <prefix>0 .. <prefix><count-1> (confirmed) to `queue` through the default
// exchange, with correlation-id corr-<i>, content-type text/plain and x-custom v<i>.
void publish_messages(int port, const std::string& queue, int count, const std::string& prefix);

// Takes every message from `queue`, acknowledging them: waits (up to 30 s) for at least
// `expected`, then takes whatever else arrives until the queue has been quiet for a second
// (duplicates).
std::vector<amqp::RabbitConnection::Event> drain_queue(int port, const std::string& queue, size_t expected);

}  // namespace mi::integration
