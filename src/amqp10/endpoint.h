#pragma once
// What every AMQP 1.0 connection of the product needs, on Qpid Proton C++: the connection
// options (SASL, TLS with verification, idle-timeout, message VPN), the address of a queue on
// the broker at hand, and a message body as text.
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/tracker.hpp>

#include <cstdint>
#include <optional>

#include <string>

#include "common/clock.h"
#include "config/settings.h"

namespace mi::amqp10 {

struct Endpoint {
  config::BrokerAddress address;  // amqp:// or amqps://
  std::string msg_vpn;            // "default" or "" -> the broker's default
  std::string username;           // empty: SASL ANONYMOUS; else SASL PLAIN
  std::string password;
  std::string trust_store;        // PEM CA file for amqps://; empty: the system's CAs
  Millis idle_timeout{0};         // 0: none

  std::string url() const;  // host and port only: never credentials
};

// SASL: PLAIN with a user (also over plain TCP, as AMQP 0-9-1 does), ANONYMOUS without;
// nothing else, so a broker offering ANONYMOUS cannot silently downgrade a configured user.
// TLS: the peer's certificate and host name are always verified. The Open frame's hostname
// carries the message VPN as `vhost:<name>` (RabbitMQ's form) on plain connections; with TLS
// it stays the host name, which certificate verification and SNI need, and the vendor's
// broker picks the message VPN by the AMQP port it listens on for that VPN.
// The largest AMQP frame we accept (and announce in our open): 1 MiB.
inline constexpr std::uint32_t kMaxFrameSize = 1024 * 1024;

proton::connection_options connection_options(const Endpoint& endpoint);

// The broker's product name from its Open frame ("RabbitMQ", ...), or "".
std::string peer_product(const proton::connection& connection);

// The address of queue `queue` on this broker. One that starts with '/' is used as given.
// RabbitMQ (3.x plugin and 4.x) reads a bare name as "declare a classic queue", so there it
// becomes /amq/queue/<name>, which takes the existing queue whatever its type; every other
// broker (the vendor's, Artemis, Qpid, ActiveMQ) takes the queue's name.
std::string queue_address(const std::string& product, const std::string& queue);

// Whether a message was certainly delivered to another consumer before (which did not settle
// it). A delivery count above 0 says so; first-acquirer false says so only from RabbitMQ,
// which sets it from its own redelivered flag: elsewhere it means "may have been acquired
// before", and it is also what a message without a header reads as.
bool certainly_redelivered(const std::string& product, const proton::message& message);

// Settles a received message as modified with delivery-failed set: the broker counts it as
// delivered once more, so its next consumer can tell for certain that it was held before
// (Artemis raises its delivery-count; RabbitMQ requeues it as redelivered, first-acquirer
// false). Released, as closing the link leaves it, Artemis hands it on with delivery-count 0.
// (Proton C++'s delivery::modify() leaves delivery-failed unset.)
void settle_as_failed_delivery(proton::delivery& delivery);

// Why the peer rejected (or released) a message we sent: the condition of its disposition,
// as describe() says it, or "no reason given".
std::string remote_outcome_reason(const proton::tracker& tracker);

// An AMQP error condition for operators: "name: description".
std::string describe(const proton::error_condition& condition);
// A transport error, said the way that helps: before the broker's Open, Proton's idle-timeout
// (amqp:resource-limit-exceeded) means that the login got no answer in time, which is what a
// refused login looks like on RabbitMQ (it holds back its answer for 3 s, against guessing);
// a login refused in time (amqp:unauthorized-access) says the same. `credential_keys` names
// the keys to check.
std::string describe_transport_error(const proton::error_condition& condition, bool opened,
                                     const std::string& credential_keys);

// The body of a message as bytes: an AMQP string or binary value, or the data section.
// Anything else (a map, a list) is nullopt.
std::optional<std::string> body_bytes(const proton::message& message);

}  // namespace mi::amqp10
