#include "binders/rabbit/rabbit_binder.h"

#include "amqp/connection.h"
#include "common/logging.h"
#include "common/printable.h"
#include "config/key_table.h"
#include "workflow/fenced_publish.h"

namespace mi::binders {
namespace {

using amqp::RabbitConnection;
using amqp::RabbitError;
using workflow::BindingError;
using workflow::Delivery;
using workflow::Message;
using workflow::SendOutcome;
using workflow::SendResult;

constexpr Millis kRpcTimeout{10000};
constexpr Millis kPublishTimeout{30000};

// What a binder environment says about how to reach the broker.
struct BrokerSettings {
  config::BrokerAddress address;
  config::SessionSettings session;  // vhost, credentials, heartbeat, trust store
};

BrokerSettings broker_settings(const config::BindingSettings& b) {
  const auto env = [&b](const std::string& key) { return config::environment_value(b, key); };
  BrokerSettings s;
  bool tls = false;
  config::parse_bool(env("spring.rabbitmq.ssl.enabled"), tls);
  s.address.scheme = tls ? "amqps" : "amqp";
  s.address.host = env("spring.rabbitmq.host");
  s.address.port = config::environment_port(b, "spring.rabbitmq.port", tls, 5671);  // AMQPS
  s.session.vhost = env("spring.rabbitmq.virtualhost");
  s.session.username = env("spring.rabbitmq.username");
  s.session.password = env("spring.rabbitmq.password");
  long long heartbeat = 0;
  config::parse_int(env("spring.rabbitmq.requestedheartbeat"), heartbeat);
  s.session.heartbeat_seconds = static_cast<int>(heartbeat);
  s.session.trust_store = env("spring.rabbitmq.ssl.truststore");
  return s;
}

std::string option(const config::BindingSettings& b, const std::string& key) {
  auto it = b.options.find(key);
  return it == b.options.end() ? "" : it->second;
}

class RabbitInput final : public workflow::InputBinding {
 public:
  explicit RabbitInput(config::BindingSettings b) : binding_(std::move(b)), broker_(broker_settings(binding_)) {
    // Unset: as many as the workflow may have in flight, so a batch never waits for the
    // broker to push the next message.
    long long prefetch = binding_.in_flight_window;
    config::parse_int(option(binding_, "consumer.prefetch"), prefetch);
    prefetch_ = static_cast<unsigned short>(std::clamp(prefetch, 1LL, 65535LL));
    dead_letter_exchange_ = option(binding_, "consumer.deadletterexchange");
    dead_letter_routing_key_ = option(binding_, "consumer.deadletterroutingkey");
    has_dead_letter_ = binding_.options.count("consumer.deadletterexchange") > 0 ||
                       binding_.options.count("consumer.deadletterroutingkey") > 0;
    if (has_dead_letter_ && dead_letter_routing_key_.empty()) dead_letter_routing_key_ = binding_.destination + ".dlq";
    // Checked against the key table (a data size) before this runs.
    long long max_size = 0;
    if (config::parse_data_size(option(binding_, "consumer.maxmessagesize"), max_size) && max_size > 0) {
      max_message_size_ = static_cast<std::uint64_t>(max_size);
    }
  }

  void open() override { connect(); }

  std::optional<Delivery> receive(Millis timeout) override {
    if (!connection_) connect();
    try {
      flush_acks();
      auto event = connection_->next_event(timeout);
      if (event.kind == RabbitConnection::Event::kOversized) {
        refuse_oversized(event);
        return std::nullopt;
      }
      if (event.kind != RabbitConnection::Event::kDelivery) return std::nullopt;
      // The connection generation in the upper bits: an ack for a delivery of a connection
      // that is gone must not acknowledge an unrelated delivery of the new one.
      return Delivery{(generation_ << 48) | event.tag, Message{std::move(event.body), std::move(event.headers)}};
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  // The workflow settles deliveries in the order it received them, so an ack covers every
  // earlier delivery too: acks are collected and sent as one `multiple` ack when the workflow
  // asks for more (or rejects, or closes) — one frame per batch instead of one per message.
  void ack(const Delivery& d) override {
    if (!connection_ || (d.tag >> 48) != generation_) return;
    ack_upto_ = std::max(ack_upto_, d.tag & kTagMask);
  }
  void reject(const Delivery& d) override { settle(d, false); }

  // Like Spring's republishToDlq: the message goes to the dead-letter exchange with the
  // reason in x-exception-message, then the original is acknowledged. A connection of its
  // own, because publisher confirms on the consuming channel would interleave with deliveries.
  bool dead_letter(const Delivery& d, const std::string& reason) override {
    if (!has_dead_letter_) return false;
    Message m = d.message;
    m.headers["x-exception-message"] = reason;
    m.headers["x-original-queue"] = binding_.destination;
    try {
      if (!dead_letter_connection_) {
        dead_letter_connection_ = std::make_unique<RabbitConnection>(broker_.address, broker_.session, kRpcTimeout);
        dead_letter_connection_->enable_confirms();
      }
      dead_letter_connection_->publish_confirmed(dead_letter_exchange_, dead_letter_routing_key_, m.payload, m.headers,
                                                 kPublishTimeout);
    } catch (const RabbitError& e) {
      dead_letter_connection_.reset();
      throw BindingError(binding_.name + ": cannot dead-letter to exchange '" + dead_letter_exchange_ +
                         "' with routing key '" + dead_letter_routing_key_ + "': " + e.what());
    }
    settle(d, true);
    return true;
  }

  void close() override {
    try {
      flush_acks();
    } catch (const BindingError&) {
      // Gone: the broker redelivers what was not acknowledged.
    }
    if (connection_) connection_->close_gracefully();
    connection_.reset();
    if (dead_letter_connection_) dead_letter_connection_->close_gracefully();
    dead_letter_connection_.reset();
  }

 private:
  void connect() {
    try {
      connection_ = std::make_unique<RabbitConnection>(broker_.address, broker_.session, kRpcTimeout);
      connection_->set_max_body_size(max_message_size_);
      connection_->consume(binding_.destination, prefetch_);
      ++generation_;
      ack_upto_ = 0;
      logger("binder.rabbit")->info("{}: consuming from queue '{}' on {}", binding_.name, binding_.destination,
                                    broker_.address.display());
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  static constexpr unsigned long long kTagMask = (1ULL << 48) - 1;

  // A message over consumer.max-message-size was never held (its body was read off the socket
  // and dropped). It is rejected without requeue, as Spring AMQP rejects a message it cannot
  // convert: RabbitMQ moves it to the queue's dead-letter exchange (x-dead-letter-exchange or a
  // policy) where it has one, else drops it; handed back, it would come straight back.
  void refuse_oversized(const RabbitConnection::Event& event) {
    flush_acks();  // earlier deliveries first: this delivery's reject must not cover them
    if (!connection_) return;
    std::string which = "a message";
    if (auto id = event.headers.find("message-id"); id != event.headers.end()) {
      which = "message '" + printable(id->second) + "'";
    }
    logger("binder.rabbit")
        ->error("{}: rejected {} of {} bytes from queue '{}' without reading it: larger than "
                "spring.cloud.stream.rabbit.bindings.{}.consumer.max-message-size ({} bytes); RabbitMQ dead-letters "
                "it if the queue has a dead-letter exchange, else drops it",
                binding_.name, which, event.body_size, binding_.destination, binding_.name, max_message_size_);
    try {
      connection_->reject(event.tag);
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void flush_acks() {
    if (ack_upto_ == 0 || !connection_) return;
    const unsigned long long tag = ack_upto_;
    ack_upto_ = 0;
    try {
      connection_->ack(tag, true);
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void settle(const Delivery& d, bool acknowledge) {
    // A delivery of an earlier connection was requeued by the broker when it closed.
    if (!connection_ || (d.tag >> 48) != generation_) return;
    flush_acks();  // earlier deliveries first
    if (!connection_) return;
    const unsigned long long tag = d.tag & kTagMask;
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
  std::uint64_t max_message_size_ = RabbitConnection::kDefaultMaxBodySize;
  bool has_dead_letter_ = false;
  std::string dead_letter_exchange_;
  std::string dead_letter_routing_key_;
  unsigned long long generation_ = 0;
  unsigned long long ack_upto_ = 0;  // acknowledged by the workflow, not yet sent (0: none)
  std::unique_ptr<RabbitConnection> connection_;
  std::unique_ptr<RabbitConnection> dead_letter_connection_;
};

// The rabbit protocol half of the fenced batch publish (workflow/fenced_publish.h): publisher
// confirms, one round trip per batch.
class RabbitOutput final : public workflow::OutputBinding, private workflow::PublishProtocol {
 public:
  explicit RabbitOutput(config::BindingSettings b)
      : binding_(std::move(b)), broker_(broker_settings(binding_)), routing_key_(option(binding_, "producer.routingkey")) {
    // A configuration error: thrown here, at start, rather than retried as an outage by open().
    if (binding_.destination.empty() && routing_key_.empty()) {
      throw BindingError(binding_.name +
                         ": publishing to the default exchange needs spring.cloud.stream.rabbit.bindings." +
                         binding_.name + ".producer.routing-key (the queue name)");
    }
  }

  void open() override { connect(); }

  void send(const Message& m, const FencingGate* fence) override {
    workflow::send_as_batch_of_one(*this, m, fence, kPublishTimeout);
  }

  std::vector<SendOutcome> send_batch(const std::vector<const Message*>& messages, const FencingGate* fence,
                                      Millis timeout) override {
    return workflow::publish_fenced_batch(*this, messages, fence, timeout, "binder.rabbit");
  }

  void close() override {
    if (connection_) connection_->close_gracefully();
    connection_.reset();
  }

 private:
  const std::string& binding_name() const override { return binding_.name; }

  void connect() override {
    if (connection_) return;
    try {
      connection_ = std::make_unique<RabbitConnection>(broker_.address, broker_.session, kRpcTimeout);
      connection_->enable_confirms();
    } catch (const RabbitError& e) {
      connection_.reset();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  std::uint64_t write(const Message& m, const FencingGate* fence) override {
    try {
      const auto tag = connection_->publish_fenced(fence, binding_.destination, routing_key_, m.payload, m.headers);
      if (!tag) throw workflow::FencedError("leadership lease ran out while a message was being written (the process was paused?)");
      return *tag;
    } catch (const RabbitError& e) {
      throw BindingError(e.what());
    }
  }

  Answers await(const std::vector<std::uint64_t>& tickets, Millis timeout, const FencingGate* fence) override {
    // Tags of one channel are consecutive.
    const auto confirms = connection_->await_confirms(tickets.front(), tickets.size(), timeout, fence);
    Answers out;
    for (const auto& c : confirms.each) {
      switch (c.kind) {
        case RabbitConnection::Confirm::kAck: out.each.push_back({Answer::Kind::kStored, ""}); break;
        case RabbitConnection::Confirm::kReturned:
        case RabbitConnection::Confirm::kNack: out.each.push_back({Answer::Kind::kRefused, c.text}); break;
        case RabbitConnection::Confirm::kPending: out.each.push_back({}); break;
      }
    }
    if (confirms.lost) {
      out.end = confirms.fenced ? Answers::End::kFenced : Answers::End::kLost;
      out.error = confirms.lost->what();
      // A precondition failure (406: e.g. larger than the broker's max_message_size).
      out.blames_the_message = confirms.lost->code() == 406;
    }
    return out;
  }

  void reset() override {
    if (connection_) connection_->abort();
    connection_.reset();
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
