#pragma once
// The MQTT broker of a test, so that one test runs on either: a private Mosquitto (anonymous
// clients allowed), or a private ActiveMQ Artemis's MQTT acceptor, which takes only its user.
#include <filesystem>
#include <memory>
#include <string>

#include "artemis_broker.h"
#include "mosquitto_broker.h"
#include "mqtt/client.h"

namespace mi::integration {

class MqttTestBroker {
 public:
  // `kind`: "mosquitto" or "artemis".
  MqttTestBroker(const std::string& kind, const std::filesystem::path& dir) {
    if (kind == "artemis") {
      artemis_ = std::make_unique<ArtemisBroker>(dir);
    } else {
      mosquitto_ = std::make_unique<MosquittoBroker>(dir);
    }
  }
  // Mosquitto only: refuses packets over this size, and says so in CONNACK (Artemis's MQTT
  // acceptor announces no limit).
  void limit_packet_size(int bytes) {
    if (mosquitto_) mosquitto_->set_extra_config("max_packet_size " + std::to_string(bytes) + "\n");
  }
  bool limits_packet_size() const { return mosquitto_ != nullptr; }
  // Whether the broker hands one publisher's QoS 1 messages to a subscriber in the order they
  // were published. Mosquitto does. ActiveMQ Artemis 2.40's MQTT acceptor does not always,
  // with nobody in between: ArtemisMqtt.OneInOrderPublishersQos1MessagesArriveOnceEach
  // (mqtt_binder_test.cc) counts how many arrive out of order.
  bool keeps_order() const { return mosquitto_ != nullptr; }
  void start() { mosquitto_ ? mosquitto_->start() : artemis_->start(); }
  void stop() { mosquitto_ ? mosquitto_->stop() : artemis_->stop(); }
  int port() const { return mosquitto_ ? mosquitto_->port() : artemis_->mqtt_port(); }
  mqtt::ClientOptions options(const std::string& client_id) const {
    mqtt::ClientOptions o;
    o.host = "127.0.0.1";
    o.port = port();
    o.client_id = client_id;
    o.clean_start = false;  // a persistent session: what arrives while we are away waits
    if (artemis_) {
      o.username = ArtemisBroker::kUser;
      o.password = ArtemisBroker::kPassword;
    }
    return o;
  }
  // The mqtt binder's environment.
  std::string environment(const std::string& client_id) const {
    std::string out = "{mqtt: {host: 127.0.0.1, port: " + std::to_string(port()) + ", client-id: " + client_id;
    if (artemis_) out += std::string(", username: ") + ArtemisBroker::kUser + ", password: " + ArtemisBroker::kPassword;
    return out + "}}";
  }

 private:
  std::unique_ptr<MosquittoBroker> mosquitto_;
  std::unique_ptr<ArtemisBroker> artemis_;
};

}  // namespace mi::integration
