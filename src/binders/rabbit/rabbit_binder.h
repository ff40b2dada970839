#pragma once
// The `rabbit` binder (Spring Cloud Stream's name for it), on rabbitmq-c.
//
// Binder environment (spring.cloud.stream.binders.<name>.environment.): spring.rabbitmq.host
// (localhost), .port (5672, 5671 with TLS), .username / .password (guest), .virtual-host
// (/), .ssl.enabled (false), .ssl.trust-store (PEM CA file), .requested-heartbeat (10 s).
//
// Input: consumes from the queue named by `destination` (it must exist; nothing is
// provisioned), with consumer.prefetch. A message is acknowledged only after the output
// stored it; a failed one is requeued.
// Output: publishes to the exchange named by `destination` ("" = the default exchange) with
// producer.routing-key (for the default exchange: the queue; defaults to nothing), persistent
// and mandatory, and waits for the publisher confirm: an unroutable or refused message is a
// failure, so the input keeps it.
//
// Headers: content-type, correlation-id and message-id travel as the AMQP properties of the
// same name; every other header as an entry of the AMQP headers table (as a string).
// A lost connection makes the binding fail; the next call reconnects.
#include "workflow/binder.h"

namespace mi::binders {

class RabbitBinder final : public workflow::Binder {
 public:
  std::string type() const override { return "rabbit"; }
  std::unique_ptr<workflow::InputBinding> create_input(const config::BindingSettings& s) override;
  std::unique_ptr<workflow::OutputBinding> create_output(const config::BindingSettings& s) override;
};

}  // namespace mi::binders
