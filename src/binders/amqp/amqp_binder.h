#pragma once
// The `amqp` binder: AMQP 1.0 on Qpid Proton C++ (src/amqp10/client.h), for the vendor's
// broker, RabbitMQ's AMQP 1.0 plugin, Artemis, Qpid and other AMQP 1.0 brokers.
//
// Binder environment (spring.cloud.stream.binders.<name>.environment.): amqp.host
// (localhost), .port (5672, 5671 with TLS), .username / .password (empty: SASL ANONYMOUS),
// .virtual-host (default), .idle-timeout (20 s), .ssl.enabled (false), .ssl.trust-store.
//
// Input: a receiver on the queue in `destination` (its address as amqp10::queue_address()
// makes it), with the workflow's in-flight window as credit. A message is accepted only after
// the output stored it; a rejected one is released, so the broker delivers it again.
// Output: a sender to `destination` (a queue, or an address starting with '/'); a message
// counts as stored when the broker accepted it (settlement = confirmation).
//
// Headers: content-type, correlation-id, message-id and subject <-> the AMQP 1.0 properties
// of those names; every other header <-> an application property (incoming values that are
// not strings as text). The body is one data section (bytes as they are); an incoming
// amqp-value string or binary is taken as its bytes, anything else in Proton's notation.
#include "workflow/binder.h"

namespace mi::binders {

class AmqpBinder final : public workflow::Binder {
 public:
  std::string type() const override { return "amqp"; }
  std::unique_ptr<workflow::InputBinding> create_input(const config::BindingSettings& s) override;
  std::unique_ptr<workflow::OutputBinding> create_output(const config::BindingSettings& s) override;
};

}  // namespace mi::binders
