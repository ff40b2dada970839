#include "binders/rabbit/rabbit_binder.h"

#include "amqp/connection.h"
#include "common/logging.h"
#include "config/key_table.h"

namespace mi::binders {
namespace {

using amqp::RabbitConnection;
using amqp::RabbitError;
using workflow::BindingError;
using workflow::Delivery;
using workflow::Message;

constexpr Millis kRpcTimeout{10000};
constexpr Millis kPublishTimeout{30000};

// What a binder environment says about how to reach the broker.
struct BrokerSettings {
  config::BrokerAddress address;
  config::SessionSettings session;  // vhost, credentials, heartbeat, trust store
};

std::string env(const config::BindingSettings& b, const std::string& key, const std::string& fallback) {
  auto it = b.environment.find(key);
  return it == b.environment.end() || it->second.empty() ? fallback : it->second;
}

BrokerSettings broker_settings(const config::BindingSettings& b) {
  BrokerSettings s;
  bool tls = false;
  config::parse_bool(env(b, "spring.rabbitmq.ssl.enabled", "false"), tls);
  s.address.scheme = tls ? "amqps" : "amqp";
  s.address.host = env(b, "spring.rabbitmq.host", "localhost");
  long long port = tls ? 5671 : 5672;
  config::parse_int(env(b, "spring.rabbitmq.port", std::to_string(port)), port);
  s.address.port = static_cast<int>(port);
  s.session.vhost = env(b, "spring.rabbitmq.virtualhost", "/");
  s.session.username = env(b, "spring.rabbitmq.username", "guest");
  s.session.password = env(b, "spring.rabbitmq.password", "guest");
  long long heartbeat = 10;
  config::parse_int(env(b, "spring.rabbitmq.requestedheartbeat", "10"), heartbeat);
  s.session.heartbeat_seconds = static_cast<int>(heartbeat);
  s.session.trust_store = env(b, "spring.rabbitmq.ssl.truststore", "");
  return s;
}

std::string option(const config::BindingSettings& b, const std::string& key) {
  auto it = b.options.find(key);
  return it == b.options.end() ? "" : it->second;
}

class RabbitInput final : public workflow::InputBinding {
 public:
  explicit RabbitInput(config::BindingSettings b) : binding_(std::move(b)), broker_(broker_settings(binding_)) {
    long long prefetch = 1;
    config::parse_int(option(binding_, "consumer.prefetch"), prefetch);
    prefetch_ = static_cast<unsigned short>(std::clamp(prefetch, 1LL, 65535LL));
  }

  void open() override { connect(); }

  std::optional<Delivery> receive(Millis timeout) override {
    if (!connection_) connect();
    try {
      auto event = connection_->next_event(timeout);
      if (event.kind != RabbitConnection::Event::kDelivery) return std::nullopt;
      // The connection generation in the upper bits: an ack for a delivery of a connection
      // that is gone must not acknowledge an unrelated delivery of the new one.
      return Delivery{(generation_ << 48) | event.tag, Message{std::move(event.body), std::move(event.headers)}};
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void ack(const Delivery& d) override { settle(d, true); }
  void reject(const Delivery& d) override { settle(d, false); }

  void close() override {
    if (connection_) connection_->close_gracefully();
    connection_.reset();
  }

 private:
  void connect() {
    try {
      connection_ = std::make_unique<RabbitConnection>(broker_.address, broker_.session, kRpcTimeout);
      connection_->consume(binding_.destination, prefetch_);
      ++generation_;
      logger("binder.rabbit")->info("{}: consuming from queue '{}' on {}", binding_.name, binding_.destination,
                                    broker_.address.display());
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void settle(const Delivery& d, bool acknowledge) {
    // A delivery of an earlier connection was requeued by the broker when it closed.
    if (!connection_ || (d.tag >> 48) != generation_) return;
    const unsigned long long tag = d.tag & ((1ULL << 48) - 1);
    try {
      if (acknowledge) {
        connection_->ack(tag, false);
      } else {
        connection_->requeue(tag);
      }
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  const config::BindingSettings binding_;
  const BrokerSettings broker_;
  unsigned short prefetch_ = 1;
  unsigned long long generation_ = 0;
  std::unique_ptr<RabbitConnection> connection_;
};

class RabbitOutput final : public workflow::OutputBinding {
 public:
  explicit RabbitOutput(config::BindingSettings b)
      : binding_(std::move(b)), broker_(broker_settings(binding_)), routing_key_(option(binding_, "producer.routingkey")) {}

  void open() override {
    if (binding_.destination.empty() && routing_key_.empty()) {
      throw BindingError(binding_.name +
                         ": publishing to the default exchange needs spring.cloud.stream.rabbit.bindings." +
                         binding_.name + ".producer.routing-key (the queue name)");
    }
    connect();
  }

  void send(const Message& m, const FencingGate* fence) override {
    if (!connection_) connect();
    if (fence && !fence->allows(std::chrono::steady_clock::now())) {
      throw workflow::FencedError("leadership not confirmed; message not published");
    }
    try {
      connection_->publish_confirmed(binding_.destination, routing_key_, m.payload, m.headers, kPublishTimeout);
    } catch (const RabbitError& e) {
      // Unroutable or refused messages leave the channel usable; anything else, reconnect.
      if (e.code() != 312) connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void close() override {
    if (connection_) connection_->close_gracefully();
    connection_.reset();
  }

 private:
  void connect() {
    try {
      connection_ = std::make_unique<RabbitConnection>(broker_.address, broker_.session, kRpcTimeout);
      connection_->enable_confirms();
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  const config::BindingSettings binding_;
  const BrokerSettings broker_;
  const std::string routing_key_;
  std::unique_ptr<RabbitConnection> connection_;
};

}  // namespace

std::unique_ptr<workflow::InputBinding> RabbitBinder::create_input(const config::BindingSettings& s) {
  return std::make_unique<RabbitInput>(s);
}

std::unique_ptr<workflow::OutputBinding> RabbitBinder::create_output(const config::BindingSettings& s) {
  return std::make_unique<RabbitOutput>(s);
}

}  // namespace mi::binders
