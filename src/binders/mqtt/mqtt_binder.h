#pragma once
// The `mqtt` binder, on our own MQTT 5 client (src/mqtt), because Debian 12's libmosquitto
// acknowledges a QoS 1 message before the application has seen it.
//
// Binder environment (spring.cloud.stream.binders.<name>.environment.): mqtt.host
// (localhost), .port (1883, 8883 with TLS), .username / .password (none), .client-id (prefix,
// default micro-integration: a binding connects as <client-id>-<binding name>), .qos (1),
// .keep-alive-interval (30 s), .ssl.enabled (false), .ssl.trust-store (PEM CA file).
//
// Input: subscribes to the topic filter in `destination` with a persistent session
// (clean start off, no expiry), so messages published while the workflow is stopped, or
// while another instance takes over with the same client id, wait at the broker. The PUBACK
// of a message is sent only after the output stored it. MQTT has no negative acknowledgment:
// handing a message back drops the connection, and the broker redelivers every
// unacknowledged message when the binding reconnects.
// Output: publishes to the topic in `destination` (QoS 1: waits for the PUBACKs of a batch).
//
// Headers: content-type <-> MQTT 5 content type, correlation-id <-> correlation data, every
// other header <-> a user property; an input adds mqtt_receivedTopic (the topic a message
// was published to).
#include "workflow/binder.h"

namespace mi::binders {

class MqttBinder final : public workflow::Binder {
 public:
  std::string type() const override { return "mqtt"; }
  std::unique_ptr<workflow::InputBinding> create_input(const config::BindingSettings& s) override;
  std::unique_ptr<workflow::OutputBinding> create_output(const config::BindingSettings& s) override;
};

}  // namespace mi::binders
