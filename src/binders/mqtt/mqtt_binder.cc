#include "binders/mqtt/mqtt_binder.h"

#include <algorithm>
#include <map>

#include "common/logging.h"
#include "common/printable.h"
#include "config/key_table.h"
#include "workflow/fenced_publish.h"
#include "mqtt/client.h"

namespace mi::binders {
namespace {

using mqtt::MqttError;
using workflow::BindingError;
using workflow::Delivery;
using workflow::Message;
using workflow::SendOutcome;
using workflow::SendResult;

constexpr Millis kDeadLetterTimeout{30000};
// The broker's answer to a message it will not take: "packet too large", "quota exceeded",
// "not authorized", "topic name invalid", "payload format invalid"...: 0x80 and above.
constexpr int kFirstFailureReason = 0x80;
const char* const kReceivedTopicHeader = "mqtt_receivedTopic";


struct Endpoint {
  mqtt::ClientOptions options;
  int qos = 1;
  std::string display;  // host:port, never credentials
};

Endpoint endpoint(const config::BindingSettings& b, bool persistent_session) {
  const auto env = [&b](const std::string& key) { return config::environment_value(b, key); };
  Endpoint e;
  bool tls = false;
  config::parse_bool(env("mqtt.ssl.enabled"), tls);
  e.options.tls = tls;
  e.options.ca_file = env("mqtt.ssl.truststore");
  e.options.host = env("mqtt.host");
  e.options.port = config::environment_port(b, "mqtt.port", tls, 8883);  // MQTT over TLS
  e.options.username = env("mqtt.username");
  e.options.password = env("mqtt.password");
  // In active_active each instance needs its own client id (one client id is one connection:
  // a second one takes the first one's over), the same after a restart, so that a shared
  // input gets back what the broker kept in its session.
  e.options.client_id =
      env("mqtt.clientid") + "-" + (b.instance_name.empty() ? "" : b.instance_name + "-") + b.name;
  long long keep_alive = 0;
  config::parse_int(env("mqtt.keepaliveinterval"), keep_alive);
  e.options.keep_alive_seconds = static_cast<std::uint16_t>(std::clamp(keep_alive, 1LL, 65535LL));
  long long qos = 0;
  config::parse_int(env("mqtt.qos"), qos);
  e.qos = qos == 0 ? 0 : 1;
  // An input resumes its session (what the broker kept for it); an output needs none.
  e.options.clean_start = !persistent_session;
  e.options.session_expiry_seconds = persistent_session ? 0xFFFFFFFF : 0;
  // A shared input takes no more than the workflow keeps in flight: what the broker has handed
  // to an instance waits in that instance's session if it dies, and this bounds it.
  if (b.shared) e.options.receive_maximum = static_cast<std::uint16_t>(std::clamp(b.in_flight_window, 1, 1000));
  e.display = (tls ? "mqtts://" : "mqtt://") + e.options.host + ":" + std::to_string(e.options.port);
  return e;
}

// The topic filter an input subscribes to: in active_active a shared subscription, so that the
// broker hands each message to one instance of the group.
std::string subscription_filter(const config::BindingSettings& b) {
  if (!b.shared) return b.destination;
  std::string group = b.group;
  if (group.empty()) {
    group = config::environment_value(b, "mqtt.clientid") + "-" + b.name;
    std::replace_if(group.begin(), group.end(), [](char c) { return c == '/' || c == '+' || c == '#'; }, '_');
  }
  return "$share/" + group + "/" + b.destination;
}

mqtt::PublishProperties properties_of(const Message& m, bool retain) {
  mqtt::PublishProperties p;
  p.retain = retain;
  for (const auto& [key, value] : m.headers) {
    if (key == "content-type") {
      p.content_type = value;
    } else if (key == "correlation-id") {
      p.correlation_data = value;
    } else if (key != kReceivedTopicHeader) {
      p.user_properties.emplace_back(key, value);
    }
  }
  return p;
}

class MqttInput final : public workflow::InputBinding {
 public:
  explicit MqttInput(config::BindingSettings b)
      : binding_(std::move(b)), endpoint_(endpoint(binding_, true)), filter_(subscription_filter(binding_)) {
    auto it = binding_.options.find("consumer.deadlettertopic");
    if (it != binding_.options.end()) dead_letter_topic_ = it->second;
  }

  void open() override { connect(); }

  std::optional<Delivery> receive(Millis timeout) override {
    if (!client_) connect();
    try {
      auto publication = client_->receive(timeout);
      if (!publication) return std::nullopt;
      Message m{std::move(publication->payload), {}};
      for (auto& [key, value] : publication->user_properties) m.headers[key] = std::move(value);
      if (publication->user_properties_left_out > 0) {
        logger("binder.mqtt")->warn("{}: a message on topic '{}' came with {} user properties; the {} past the first {} were left out",
                                    binding_.name, printable(publication->topic),
                                    publication->user_properties.size() + publication->user_properties_left_out,
                                    publication->user_properties_left_out, mqtt::kMaxUserProperties);
      }
      if (!publication->content_type.empty()) m.headers["content-type"] = publication->content_type;
      if (!publication->correlation_data.empty()) m.headers["correlation-id"] = publication->correlation_data;
      m.headers[kReceivedTopicHeader] = publication->topic;
      const unsigned long long tag = next_tag_++;
      publication->user_properties.clear();
      pending_.emplace(tag, std::move(*publication));
      return Delivery{tag, std::move(m)};
    } catch (const MqttError& e) {
      drop();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  void ack(const Delivery& d) override {
    auto it = pending_.find(d.tag);
    if (it == pending_.end()) return;  // of a dropped connection: the broker redelivers it
    const mqtt::Publication publication = std::move(it->second);
    pending_.erase(it);
    try {
      client_->acknowledge(publication);
    } catch (const MqttError& e) {
      drop();
      throw BindingError(binding_.name + ": " + e.what());
    }
  }

  // No negative acknowledgment in MQTT: only a new connection makes the broker send the
  // unacknowledged messages again.
  void reject(const Delivery& d) override {
    if (pending_.count(d.tag) == 0) return;
    logger("binder.mqtt")->info("{}: handing messages back: reconnecting so that {} redelivers them", binding_.name,
                                endpoint_.display);
    drop();
  }

  bool dead_letter(const Delivery& d, const std::string& reason) override {
    if (dead_letter_topic_.empty()) return false;
    if (!client_ || pending_.count(d.tag) == 0) throw BindingError(binding_.name + ": connection lost before dead-lettering");
    Message m = d.message;
    m.headers["x-exception-message"] = reason;
    try {
      const std::uint16_t id =
          client_->publish(dead_letter_topic_, m.payload, endpoint_.qos, properties_of(m, false));
      if (endpoint_.qos > 0) client_->wait_for_acks(std::span<const std::uint16_t>(&id, 1), kDeadLetterTimeout);
    } catch (const MqttError& e) {
      drop();
      throw BindingError(binding_.name + ": cannot dead-letter to topic '" + dead_letter_topic_ + "': " + e.what());
    }
    ack(d);
    return true;
  }

  void close() override {
    if (client_) {
      try {
        // Leaving the group: Mosquitto goes on handing a share of the messages to the session
        // of a member that is merely disconnected, where they would wait for its return.
        if (binding_.shared) client_->unsubscribe(filter_);
        client_->disconnect();
      } catch (const std::exception&) {
        // Closing anyway: what was not acknowledged stays at the broker.
      }
    }
    client_.reset();
    pending_.clear();
  }

 private:
  void connect() {
    try {
      client_ = std::make_unique<mqtt::Client>(endpoint_.options);
      if (binding_.shared && !client_->shared_subscriptions_available()) {
        client_.reset();
        throw BindingError(binding_.name + ": " + endpoint_.display +
                           " does not offer shared subscriptions, which an mqtt input needs in active_active "
                           "(or every instance would receive every message)");
      }
      client_->subscribe(filter_, endpoint_.qos);
      logger("binder.mqtt")->info("{}: subscribed to '{}' on {} as client '{}' (session {})", binding_.name, filter_,
                                  endpoint_.display, endpoint_.options.client_id,
                                  client_->session_present() ? "resumed" : "new");
    } catch (const MqttError& e) {
      client_.reset();
      throw BindingError(binding_.name + ": " + endpoint_.display + ": " + e.what());
    }
  }

  void drop() {
    client_.reset();  // no DISCONNECT: the session and its unacknowledged messages remain
    pending_.clear();
  }

  const config::BindingSettings binding_;
  const Endpoint endpoint_;
  const std::string filter_;  // the destination, or $share/<group>/<destination> when shared
  std::string dead_letter_topic_;
  std::unique_ptr<mqtt::Client> client_;
  std::map<unsigned long long, mqtt::Publication> pending_;  // delivered, not yet acknowledged
  unsigned long long next_tag_ = 1;
};

// The MQTT protocol half of the fenced batch publish (workflow/fenced_publish.h): PUBACKs for
// QoS 1, nothing to wait for at QoS 0.
class MqttOutput final : public workflow::OutputBinding, private workflow::PublishProtocol {
 public:
  explicit MqttOutput(config::BindingSettings b) : binding_(std::move(b)), endpoint_(endpoint(binding_, false)) {
    auto it = binding_.options.find("producer.retained");
    if (it != binding_.options.end()) config::parse_bool(it->second, retain_);
    // A configuration error: thrown here, at start, rather than retried as an outage by open().
    if (binding_.destination.empty()) throw BindingError(binding_.name + ": an MQTT output needs a topic as destination");
  }

  void open() override { connect(); }

  void send(const Message& m, const FencingGate* fence) override {
    workflow::send_as_batch_of_one(*this, m, fence, Millis{30000});
  }

  std::vector<SendOutcome> send_batch(const std::vector<const Message*>& messages, const FencingGate* fence,
                                      Millis timeout) override {
    return workflow::publish_fenced_batch(*this, messages, fence, timeout, "binder.mqtt");
  }

  void close() override {
    if (client_) {
      try {
        client_->disconnect();
      } catch (const std::exception&) {
        // Closing anyway.
      }
    }
    client_.reset();
  }

 private:
  const std::string& binding_name() const override { return binding_.name; }

  void connect() override {
    if (client_) return;
    try {
      client_ = std::make_unique<mqtt::Client>(endpoint_.options);
      logger("binder.mqtt")->info("{}: publishing to '{}' on {}", binding_.name, binding_.destination,
                                  endpoint_.display);
    } catch (const MqttError& e) {
      client_.reset();
      throw BindingError(binding_.name + ": " + endpoint_.display + ": " + e.what());
    }
  }
  std::uint64_t write(const Message& m, const FencingGate* fence) override {
    try {
      // The client asks the fence again once the publication is written.
      return client_->publish(binding_.destination, m.payload, endpoint_.qos, properties_of(m, retain_), fence);
    } catch (const mqtt::Fenced& e) {
      throw workflow::FencedError(e.what());
    } catch (const MqttError& e) {
      // Larger than the broker takes (it says so in CONNACK): refused before sending, so this
      // message alone is at fault.
      if (e.reason_code() == mqtt::reason::kPacketTooLarge) throw workflow::RefusedError(e.what());
      throw BindingError(e.what());
    }
  }

  Answers await(const std::vector<std::uint64_t>& tickets, Millis timeout, const FencingGate* fence) override {
    Answers out;
    out.each.resize(tickets.size());
    try {
      if (endpoint_.qos > 0) {
        std::vector<std::uint16_t> ids;
        for (auto t : tickets) ids.push_back(static_cast<std::uint16_t>(t));
        client_->wait_for_acks(ids, timeout, fence);
      }
      for (auto& a : out.each) a.kind = Answer::Kind::kStored;
    } catch (const mqtt::Fenced& e) {
      out.end = Answers::End::kFenced;
      out.error = e.what();
    } catch (const MqttError& e) {
      // A PUBACK with a failure reason; which of the batch's it was, the client does not say.
      out.end = Answers::End::kLost;
      out.error = e.what();
      out.blames_the_message = e.reason_code() >= kFirstFailureReason;
    }
    return out;
  }

  void reset() override {
    if (client_) client_->abort();
    client_.reset();
  }

  const config::BindingSettings binding_;
  const Endpoint endpoint_;
  bool retain_ = false;
  std::unique_ptr<mqtt::Client> client_;
};

}  // namespace

std::unique_ptr<workflow::InputBinding> MqttBinder::create_input(const config::BindingSettings& s) {
  return std::make_unique<MqttInput>(s);
}

std::unique_ptr<workflow::OutputBinding> MqttBinder::create_output(const config::BindingSettings& s) {
  return std::make_unique<MqttOutput>(s);
}

}  // namespace mi::binders
