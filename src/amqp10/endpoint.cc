#include "amqp10/endpoint.h"

#include <proton/binary.hpp>
#include <proton/delivery.h>
#include <proton/condition.h>
#include <proton/disposition.h>
#include <proton/ssl.hpp>
#include <proton/value.hpp>

#include "common/printable.h"

namespace mi::amqp10 {

std::string Endpoint::url() const {
  return address.scheme + "://" + address.host + ":" + std::to_string(address.port);
}

proton::connection_options connection_options(const Endpoint& endpoint) {
  proton::connection_options options;
  options.sasl_enabled(true);
  if (endpoint.username.empty()) {
    options.sasl_allowed_mechs("ANONYMOUS");
  } else {
    options.sasl_allowed_mechs("PLAIN").sasl_allow_insecure_mechs(true).user(endpoint.username).password(
        endpoint.password);
  }
  if (endpoint.idle_timeout.count() > 0) options.idle_timeout(proton::duration(endpoint.idle_timeout.count()));
  // Without a bound Proton takes a frame of any size the peer announces, holding it all in
  // memory: a peer announcing 2 GiB and sending filler made the process hold over 1 GiB. A
  // larger message still arrives, in several frames of this size.
  options.max_frame_size(kMaxFrameSize);
  const bool tls = endpoint.address.scheme == "amqps";
  if (tls) {
    const std::string ca = endpoint.trust_store.empty() ? "/etc/ssl/certs/ca-certificates.crt" : endpoint.trust_store;
    options.ssl_client_options(proton::ssl_client_options(ca, proton::ssl::VERIFY_PEER_NAME));
  } else if (!endpoint.msg_vpn.empty() && endpoint.msg_vpn != "default") {
    options.virtual_host("vhost:" + endpoint.msg_vpn);
  }
  return options;
}

std::string describe(const proton::error_condition& condition) {
  if (!condition) return "no reason given";
  std::string out = printable(condition.name());
  if (!condition.description().empty()) out += ": " + printable(condition.description());
  return out;
}

std::string describe_transport_error(const proton::error_condition& condition, bool opened,
                                     const std::string& credential_keys) {
  if (!opened && condition.name() == "amqp:resource-limit-exceeded") {
    return "no answer to the login within the idle-timeout (a broker may hold back its answer to a refused login: "
           "check " + credential_keys + ")";
  }
  if (!opened && condition.name() == "amqp:unauthorized-access") {
    return describe(condition) + " (check " + credential_keys + ")";
  }
  return describe(condition);
}

std::string peer_product(const proton::connection& connection) {
  try {
    const auto properties = connection.properties();
    const auto it = properties.find(proton::symbol("product"));
    if (it == properties.end()) return "";
    return proton::coerce<std::string>(it->second);
  } catch (const proton::error&) {
    return "";  // properties of an unexpected type: not a product we know
  }
}

std::string queue_address(const std::string& product, const std::string& queue) {
  if (!queue.empty() && queue.front() == '/') return queue;
  if (product == "RabbitMQ") return "/amq/queue/" + queue;
  return queue;
}

namespace {
// proton::delivery keeps its pn_delivery_t in a protected member of a base class; a copy
// of the delivery (one more reference to it) as this derived class may ask for it.
class DeliveryAccess : proton::delivery {
 public:
  static pn_delivery_t* of(const proton::delivery& d) { return DeliveryAccess(d).pn_object(); }

 private:
  explicit DeliveryAccess(const proton::delivery& d) : proton::delivery(d) {}
};
// The same for a tracker (the sending side of a delivery).
class TrackerAccess : proton::tracker {
 public:
  static pn_delivery_t* of(const proton::tracker& t) { return TrackerAccess(t).pn_object(); }

 private:
  explicit TrackerAccess(const proton::tracker& t) : proton::tracker(t) {}
};
}  // namespace

std::string remote_outcome_reason(const proton::tracker& tracker) {
  pn_delivery_t* d = TrackerAccess::of(tracker);
  if (!d) return "no reason given";
  pn_condition_t* condition = pn_disposition_condition(pn_delivery_remote(d));
  if (!condition || !pn_condition_is_set(condition)) return "no reason given";
  const char* name = pn_condition_get_name(condition);
  const char* description = pn_condition_get_description(condition);
  std::string out = printable(name ? name : "");
  if (description && *description) out += ": " + printable(description);
  return out;
}

void settle_as_failed_delivery(proton::delivery& delivery) {
  pn_delivery_t* d = DeliveryAccess::of(delivery);
  if (!d) return;
  pn_disposition_set_failed(pn_delivery_local(d), true);
  pn_delivery_update(d, PN_MODIFIED);
  pn_delivery_settle(d);
}

bool certainly_redelivered(const std::string& product, const proton::message& message) {
  return message.delivery_count() > 0 || (product == "RabbitMQ" && !message.first_acquirer());
}

std::optional<std::string> body_bytes(const proton::message& message) {
  const proton::value& body = message.body();
  switch (body.type()) {
    case proton::STRING:
      return proton::get<std::string>(body);
    case proton::BINARY: {
      const auto bytes = proton::get<proton::binary>(body);
      return std::string(bytes.begin(), bytes.end());
    }
    case proton::SYMBOL:
      return std::string(proton::get<proton::symbol>(body));
    default:
      return std::nullopt;
  }
}

}  // namespace mi::amqp10
