#include "config/key_table.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "config/relaxed_name.h"

namespace mi::config {
namespace {

using T = ValueType;

// clang-format off
const std::vector<KeySpec> kKeys = {
  // Management API
  {"server.port", T::kInt, "8090", 0, 65535, {}, false,
   "HTTP port of the management API (/actuator/...); 0 picks a free port and logs it."},
  {"server.address", T::kString, "0.0.0.0", {}, {}, {}, false,
   "Address the management API listens on."},
  {"server.max-http-request-header-size", T::kDataSize, "8KB", 1024, 65536, {}, false,
   "Longest request line and headers of a management API request (Spring Boot's key); larger: 431. At most 100 headers."},
  {"server.connection-timeout", T::kDuration, "5s", 100, 60000, {}, false,
   "How long a client may take to send a request's headers, and its body (each); a new connection's first byte too. Then it is closed."},
  {"server.max-connections", T::kInt, "512", 1, 10000, {}, false,
   "Open management API connections in all. One more closes the connection that has waited longest for its next request."},
  {"server.max-connections-per-address", T::kInt, "128", 1, 10000, {}, false,
   "Open management API connections from one client address; one more closes that address's longest-waiting connection."},
  {"server.ssl.enabled", T::kBool, "false", {}, {}, {}, false,
   "Serve the management API over HTTPS (TLS 1.2 and newer only) instead of HTTP."},
  {"server.ssl.certificate", T::kString, "", {}, {}, {}, false,
   "PEM file of the server's certificate, then its chain (needed with server.ssl.enabled)."},
  {"server.ssl.certificate-private-key", T::kString, "", {}, {}, {}, false,
   "PEM file of that certificate's private key (needed with server.ssl.enabled)."},
  {"server.ssl.trust-certificate", T::kString, "", {}, {}, {}, false,
   "PEM file of the CA certificates that client certificates must chain to (with server.ssl.client-auth)."},
  {"server.ssl.client-auth", T::kEnum, "none", {}, {}, {"none", "want", "need"}, false,
   "Client certificates (mutual TLS): none; want = verified if sent; need = required."},
  {"solace.connector.security.enabled", T::kBool, "true", {}, {}, {}, false,
   "Require HTTP Basic credentials for everything but the health status."},
  {"solace.connector.security.users[<i>].name", T::kString, "", {}, {}, {}, false,
   "User name for the management API."},
  {"solace.connector.security.users[<i>].password", T::kString, "", {}, {}, {}, true,
   "That user's password."},
  {"solace.connector.security.users[<i>].roles", T::kList, "", {}, {}, {}, false,
   "Roles, comma-separated or a YAML list: none = read only, `admin` = read and change."},

  // Leader election
  {"solace.connector.management.leader-election.mode", T::kEnum, "standalone", {}, {},
   {"standalone", "active_standby", "active_active"}, false,
   "Redundancy mode. standalone and active_active: always active. active_standby: one active instance per management queue."},
  {"solace.connector.leader-election.mode", T::kEnum, "", {}, {},
   {"standalone", "active_standby", "active_active"}, false,
   "Alias of solace.connector.management.leader-election.mode (the spec's spelling); both set to different values is an error."},
  {"solace.connector.management.leader-election.instance-name", T::kString, "", {}, {}, {}, false,
   "This instance's name among those that share inputs in active_active (letters, digits, '.', '_', '-'; at most 64): the mqtt binder's client ids and the file binder's claim directories derive from it, so give a restarted instance the same name. Default: <host name>-<server.port>."},
  {"solace.connector.management.leader-election.fail-over.max-attempts", T::kInt, "3", 1, 1000000, {}, false,
   "Attempts to start or stop each workflow on a change of leader state."},
  {"solace.connector.management.leader-election.fail-over.back-off-initial-interval", T::kInt, "1000", 0, 3600000, {}, false,
   "Wait in ms before the second attempt."},
  {"solace.connector.management.leader-election.fail-over.back-off-max-interval", T::kInt, "10000", 0, 3600000, {}, false,
   "Longest wait in ms between attempts."},
  {"solace.connector.management.leader-election.fail-over.back-off-multiplier", T::kDouble, "2.0", 1.0, 10, {}, false,
   "Factor applied to the wait after each attempt."},

  {"solace.connector.management.queue", T::kString, "", {}, {}, {}, false,
   "Management queue (active_standby): a RabbitMQ queue with x-single-active-consumer=true, or a lock file name for file:// hosts. Not created by the product."},
  {"solace.connector.management.session.host", T::kString, "localhost", {}, {}, {}, false,
   "Management broker URLs, comma-separated, tried in order: amqp://host:port, amqps://host:port (the protocol is session.protocol), or file:///dir for a lock-file session on one host. The vendor's tcp:// (SMF) is not spoken: use its AMQP port with protocol amqp-1.0."},
  {"solace.connector.management.session.protocol", T::kEnum, "amqp-0-9-1", {}, {}, {"amqp-0-9-1", "amqp-1.0"}, false,
   "Protocol of the amqp(s):// hosts: amqp-0-9-1 (RabbitMQ) or amqp-1.0 (the vendor's broker on its message VPN's AMQP port, RabbitMQ's AMQP 1.0 plugin, other AMQP 1.0 brokers)."},
  {"solace.connector.management.session.msg-vpn", T::kString, "default", {}, {}, {}, false,
   "Message VPN (RabbitMQ: virtual host) of the management queue; `default` means the broker's default (`/` on RabbitMQ). Over AMQP 1.0 on a plain connection it is sent as the Open frame's hostname `vhost:<msg-vpn>`; the vendor's broker selects the VPN by its AMQP port."},
  {"solace.connector.management.session.client-username", T::kString, "", {}, {}, {}, false,
   "User of the management session (required for AMQP 0-9-1; over AMQP 1.0 empty means SASL ANONYMOUS, else SASL PLAIN)."},
  {"solace.connector.management.session.client-password", T::kString, "", {}, {}, {}, true,
   "That user's password."},
  {"solace.connector.management.session.connect-retries", T::kInt, "1", -1, 1000000, {}, false,
   "Rounds over all hosts for the first connection before giving up (-1 = forever); after giving up the instance stays standby and health is DOWN."},
  {"solace.connector.management.session.reconnect-retries", T::kInt, "-1", -1, 1000000, {}, false,
   "Rounds over all hosts after a lost connection (-1 = forever)."},
  {"solace.connector.management.session.connect-retries-per-host", T::kInt, "20", 0, 1000000, {}, false,
   "Extra attempts on each host before moving to the next one."},
  {"solace.connector.management.session.reconnect-retry-wait-in-millis", T::kInt, "3000", 0, 60000, {}, false,
   "Wait between connection attempts (and between checks of a missing or wrong management queue)."},
  {"solace.connector.management.session.heartbeat-interval-in-seconds", T::kInt, "1", 1, 60, {}, false,
   "AMQP heartbeat. The instance's lease is 1.5 x this: it steps down when it could not confirm its flow for that long, before the broker (2-3 heartbeats) can promote another."},
  {"solace.connector.management.session.token-refresh-interval-in-millis", T::kInt, "60000", 1000, 3600000, {}, false,
   "The longest time between two rotations of the active instance's leader token (it is rotated every quarter heartbeat anyway, as the lease probe), so the broker's consumer_timeout never ends a term; keep it well below that timeout."},
  {"solace.connector.management.session.ssl-trust-store", T::kString, "", {}, {}, {}, false,
   "PEM file of CA certificates for amqps:// hosts (default: the system's CAs). Peer and host name are always verified."},
  {"solace.connector.management.session.**", T::kAny, "", {}, {}, {}, false,
   "Other properties of the vendor's session interface are accepted and ignored (logged once)."},

  // Workflows
  {"solace.connector.workflows.<id>.enabled", T::kBool, "false", {}, {}, {}, false,
   "Run workflow <id> (0..19), linking binding input-<id> to output-<id>."},
  {"spring.cloud.stream.bindings.input-<id>.destination", T::kString, "", {}, {}, {}, false,
   "Where workflow <id> reads from (file binder: the spool directory)."},
  {"spring.cloud.stream.bindings.input-<id>.binder", T::kString, "", {}, {}, {}, false,
   "Binder name (spring.cloud.stream.binders.<name>) or type of the input; default: the default binder."},
  {"solace.connector.workflows.<id>.acknowledgment.publish-async", T::kBool, "", {}, {}, {}, false,
   "true: keep up to back-pressure-threshold messages in flight (confirmed in batches); false: one at a time. Unset: the default under solace.connector.default.workflow."},
  {"solace.connector.workflows.<id>.acknowledgment.back-pressure-threshold", T::kInt, "", 1, 65535, {}, false,
   "Most messages in flight (taken from the input, not yet confirmed by the output) with publish-async. Unset: the default."},
  {"solace.connector.workflows.<id>.acknowledgment.publish-timeout", T::kInt, "", -1, 86400000, {}, false,
   "Milliseconds the output may take to confirm a message (-1 = forever); then the message is handed back. Unset: the default."},
  {"solace.connector.default.workflow.acknowledgment.publish-async", T::kBool, "false", {}, {}, {}, false,
   "publish-async for workflows that do not set it."},
  {"solace.connector.default.workflow.acknowledgment.back-pressure-threshold", T::kInt, "255", 1, 65535, {}, false,
   "back-pressure-threshold for workflows that do not set it."},
  {"solace.connector.default.workflow.acknowledgment.publish-timeout", T::kInt, "600000", -1, 86400000, {}, false,
   "publish-timeout (ms, -1 = forever) for workflows that do not set it."},
  {"spring.cloud.stream.bindings.input-<id>.consumer.max-attempts", T::kInt, "3", 1, 1000000, {}, false,
   "Attempts to deliver one message the output refuses; then it is dead-lettered if the input has a dead-letter destination, else handed back to the input and the workflow waits back-off-max-interval."},
  {"spring.cloud.stream.bindings.input-<id>.consumer.max-crashes", T::kInt, "2", 0, 1000, {}, false,
   "Times the process may die (a crash, abort or kill) while holding one message of this input before that message is set aside at the next start instead of being handed to the output again: dead-lettered where the input has a dead-letter destination, a file moved to <spool>/.rejected/; else handed back with an ERROR. 0: never. Counted in solace.connector.poison-guard.directory."},
  {"solace.connector.poison-guard.directory", T::kString, "poison-guard", {}, {}, {}, false,
   "Where each workflow records the messages in hand, so that a start after a crash knows which message the process died holding (consumer.max-crashes); relative to the working directory."},
  {"spring.cloud.stream.bindings.input-<id>.consumer.back-off-initial-interval", T::kInt, "1000", 0, 3600000, {}, false,
   "Milliseconds before the second attempt; also the first wait after an output or input broker is lost."},
  {"spring.cloud.stream.bindings.input-<id>.consumer.back-off-max-interval", T::kInt, "10000", 0, 3600000, {}, false,
   "Longest wait between attempts (and between reconnects)."},
  {"spring.cloud.stream.bindings.input-<id>.consumer.back-off-multiplier", T::kDouble, "2.0", 1, 10, {}, false,
   "Growth of the wait from one attempt to the next."},
  {"spring.cloud.stream.bindings.input-<id>.group", T::kString, "", {}, {}, {}, false,
   "Consumer group (Spring Cloud Stream's term): in active_active, the instances with the same group share the input's messages. mqtt binder: the shared subscription's group ($share/<group>/<topic>); default <client-id>-<binding>. Not '/', '+' or '#'."},
  {"spring.cloud.stream.bindings.output-<id>.destination", T::kString, "", {}, {}, {}, false,
   "Where workflow <id> writes to (file binder: the output directory)."},
  {"spring.cloud.stream.bindings.output-<id>.binder", T::kString, "", {}, {}, {}, false,
   "Binder name or type of the output; default: the default binder."},
  {"spring.cloud.stream.default-binder", T::kString, "", {}, {}, {}, false,
   "Binder used by bindings that name none; needed only when several binders are declared."},
  {"spring.cloud.stream.binders.<name>.type", T::kString, "", {}, {}, {}, false,
   "Binder type of binder <name>: file, rabbit, mqtt or amqp (AMQP 1.0)."},
  {"spring.cloud.stream.file.bindings.input-<id>.consumer.max-message-size", T::kDataSize, "16MB", 1, 1073741824, {}, false,
   "file binder: largest spool file (bytes) taken as a message; a larger one is moved to <spool>/.rejected/ without being read past the limit."},
  {"spring.cloud.stream.file.bindings.input-<id>.consumer.ready-check", T::kEnum, "lease", {}, {}, {"lease", "quiet-period"}, false,
   "file binder: how the input knows a spool file is finished. lease: when no process on this host has it open for writing (the kernel's read lease), falling back to quiet-period for a file the service may not lease (another owner, no CAP_LEASE) and on network file systems; quiet-period: when its size and modification time stayed the same for consumer.quiet-period (for spools written from other hosts)."},
  {"spring.cloud.stream.file.bindings.input-<id>.consumer.quiet-period", T::kDuration, "1s", 100, 3600000, {}, false,
   "file binder: how long a spool file's size and modification time must stay the same before it is taken, where the kernel cannot say whether it is still being written (see consumer.ready-check)."},
  {"spring.cloud.stream.amqp.bindings.input-<id>.consumer.max-message-size", T::kDataSize, "128MB", 1, 1073741824, {}, false,
   "amqp binder: largest message input <id> takes, announced to the broker in the receiver's attach (max-message-size). At most this plus two frames is held while a message arrives; a message that grows past it is rejected (amqp:link:message-size-exceeded: the broker dead-letters or drops it) and the connection opened again, with an error naming it."},
  {"spring.cloud.stream.rabbit.bindings.input-<id>.consumer.max-message-size", T::kDataSize, "128MB", 1, 536870912, {}, false,
   "rabbit binder: largest message body input <id> takes (RabbitMQ's own max_message_size default; its hard limit is 512MB). A larger one is read off the connection without being held and rejected without requeue, with an ERROR: RabbitMQ dead-letters it where the queue has a dead-letter exchange, else drops it."},
  {"spring.cloud.stream.rabbit.bindings.input-<id>.consumer.prefetch", T::kInt, "", 1, 65535, {}, false,
   "rabbit binder: unacknowledged messages the broker may push ahead to input <id>; default: the workflow's in-flight window (1, or back-pressure-threshold with publish-async)."},
  {"spring.cloud.stream.rabbit.bindings.output-<id>.producer.routing-key", T::kString, "", {}, {}, {}, false,
   "rabbit binder: routing key of output <id>; default: the destination when it is the default exchange (\"\"), else empty."},
  {"spring.cloud.stream.rabbit.bindings.input-<id>.consumer.dead-letter-exchange", T::kString, "", {}, {}, {}, false,
   "rabbit binder: when this or dead-letter-routing-key is set, a message the output refused max-attempts times is republished here on the input's broker (\"\" = default exchange) and acknowledged, with x-exception-message and x-original-queue headers."},
  {"spring.cloud.stream.rabbit.bindings.input-<id>.consumer.dead-letter-routing-key", T::kString, "", {}, {}, {}, false,
   "rabbit binder: routing key for dead-lettered messages; default: <input queue>.dlq."},
  {"spring.cloud.stream.mqtt.bindings.input-<id>.consumer.dead-letter-topic", T::kString, "", {}, {}, {}, false,
   "mqtt binder: topic on the input's broker for messages the output refused max-attempts times (QoS 1); empty: none."},
  {"spring.cloud.stream.mqtt.bindings.output-<id>.producer.retained", T::kBool, "false", {}, {}, {}, false,
   "mqtt binder: publish with the retain flag."},

  // Binder environments: spring.cloud.stream.binders.<name>.environment.*
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.host", T::kString, "localhost", {}, {}, {}, false,
   "rabbit binder: broker host."},
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.port", T::kInt, "5672", 1, 65535, {}, false,
   "rabbit binder: broker port (default 5671 with ssl.enabled)."},
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.username", T::kString, "guest", {}, {}, {}, false,
   "rabbit binder: user name."},
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.password", T::kString, "guest", {}, {}, {}, true,
   "rabbit binder: password."},
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.virtual-host", T::kString, "/", {}, {}, {}, false,
   "rabbit binder: virtual host."},
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.requested-heartbeat", T::kInt, "10", 0, 600, {}, false,
   "rabbit binder: AMQP heartbeat in seconds (0 = off)."},
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.ssl.enabled", T::kBool, "false", {}, {}, {}, false,
   "rabbit binder: amqps with peer and host name verification."},
  {"spring.cloud.stream.binders.<name>.environment.spring.rabbitmq.ssl.trust-store", T::kString, "", {}, {}, {}, false,
   "rabbit binder: PEM file of CA certificates (default: the system's CAs)."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.host", T::kString, "localhost", {}, {}, {}, false,
   "mqtt binder: broker host."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.port", T::kInt, "1883", 1, 65535, {}, false,
   "mqtt binder: broker port (default 8883 with ssl.enabled)."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.username", T::kString, "", {}, {}, {}, false,
   "mqtt binder: user name; empty: anonymous."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.password", T::kString, "", {}, {}, {}, true,
   "mqtt binder: password."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.client-id", T::kString, "micro-integration", {}, {}, {}, false,
   "mqtt binder: client id prefix; each binding connects as <client-id>-<binding>. Keep it the same on every instance of an active-standby group: the persistent session of an input then survives a failover."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.qos", T::kInt, "1", 0, 1, {}, false,
   "mqtt binder: QoS of subscriptions and publications; 1 gives at-least-once, 0 may lose messages."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.keep-alive-interval", T::kInt, "30", 1, 65535, {}, false,
   "mqtt binder: keep-alive in seconds."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.ssl.enabled", T::kBool, "false", {}, {}, {}, false,
   "mqtt binder: TLS with peer and host name verification."},
  {"spring.cloud.stream.binders.<name>.environment.mqtt.ssl.trust-store", T::kString, "", {}, {}, {}, false,
   "mqtt binder: PEM file of CA certificates (default: the system's CAs)."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.host", T::kString, "localhost", {}, {}, {}, false,
   "amqp binder (AMQP 1.0): broker host, or several separated by commas (host or host:port each, [v6 address]:port): a binding connects to the first that answers, starting with the one it last reached."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.port", T::kInt, "5672", 1, 65535, {}, false,
   "amqp binder: broker port (default 5671 with ssl.enabled)."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.username", T::kString, "", {}, {}, {}, false,
   "amqp binder: user name (SASL PLAIN); empty: SASL ANONYMOUS."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.password", T::kString, "", {}, {}, {}, true,
   "amqp binder: password."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.virtual-host", T::kString, "default", {}, {}, {}, false,
   "amqp binder: message VPN / virtual host, sent as the Open frame's hostname vhost:<name> on plain connections; `default`: the broker's default."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.idle-timeout", T::kInt, "20", 1, 3600, {}, false,
   "amqp binder: seconds without a frame from the broker after which the connection counts as dead."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.ssl.enabled", T::kBool, "false", {}, {}, {}, false,
   "amqp binder: TLS with peer and host name verification."},
  {"spring.cloud.stream.binders.<name>.environment.amqp.ssl.trust-store", T::kString, "", {}, {}, {}, false,
   "amqp binder: PEM file of CA certificates (default: the system's CAs)."},
  {"spring.cloud.stream.binders.<name>.environment.**", T::kAny, "", {}, {}, {}, false,
   "Settings handed to binder <name>; keys ending in password/secret/token are masked."},

  // Lifecycle and logging
  {"spring.lifecycle.timeout-per-shutdown-phase", T::kDuration, "30s", 0, 3600000, {}, false,
   "On SIGTERM/SIGINT, how long workflows may take to stop before the process exits anyway."},
  {"management.endpoints.web.exposure.include", T::kList, "*", {}, {}, {}, false,
   "Actuator endpoints served (Spring Boot's key): * or a list of health, info, leaderelection, loggers, prometheus, workflows. Others answer 404."},
  {"management.endpoints.web.exposure.exclude", T::kList, "", {}, {}, {}, false,
   "Actuator endpoints not served, even if included."},
  {"management.server.port", T::kInt, "", 0, 65535, {}, false,
   "Port of the management API instead of server.port (Spring Boot's separate management port; all of this product's HTTP endpoints are management endpoints)."},
  {"management.server.address", T::kString, "", {}, {}, {}, false,
   "Address of the management API instead of server.address."},
  {"logging.structured.format.console", T::kEnum, "", {}, {}, {"ecs"}, false,
   "Structured logs on the console (stderr): ecs = one JSON object per line with Elastic Common Schema fields (@timestamp, log.level, log.logger, message, process.pid, service.name, ecs.version), as Spring Boot writes them. Unset: plain lines."},
  {"logging.structured.ecs.service.name", T::kString, "micro-integration", {}, {}, {}, false,
   "service.name in ECS log lines."},
  {"logging.level.root", T::kLogLevel, "INFO", {}, {}, {}, false,
   "Log level of all components: TRACE, DEBUG, INFO, WARN, ERROR, OFF."},
  {"logging.level.**", T::kLogLevel, "", {}, {}, {}, false,
   "Log level of one component: app, config, leader, workflow, binder.file, binder.rabbit, binder.mqtt, management."},
};
// clang-format on

enum class Placeholder { kNone, kId, kIndex, kName };

struct PatternSegment {
  std::string prefix;  // canonical literal before the placeholder (whole segment if none)
  Placeholder placeholder = Placeholder::kNone;
  std::string suffix;
};

struct CompiledPattern {
  const KeySpec* spec;
  std::vector<PatternSegment> segments;
  bool open_tail = false;  // ends in **
};

std::vector<std::string> split_display(std::string_view pattern) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : pattern) {
    if (c == '.' || c == '[' || c == ']') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

CompiledPattern compile(const KeySpec& spec) {
  CompiledPattern out{&spec, {}, false};
  for (const auto& part : split_display(spec.pattern)) {
    if (part == "**") {
      out.open_tail = true;
      break;
    }
    PatternSegment seg;
    const size_t open = part.find('<');
    if (open == std::string::npos) {
      seg.prefix = canonical_segment(part);
    } else {
      const size_t close = part.find('>', open);
      const std::string name = part.substr(open + 1, close - open - 1);
      seg.prefix = canonical_segment(part.substr(0, open));
      seg.suffix = canonical_segment(part.substr(close + 1));
      seg.placeholder = name == "id" ? Placeholder::kId
                        : name == "i" ? Placeholder::kIndex
                                      : Placeholder::kName;
    }
    out.segments.push_back(seg);
  }
  return out;
}

const std::vector<CompiledPattern>& compiled() {
  static const std::vector<CompiledPattern> patterns = [] {
    std::vector<CompiledPattern> v;
    for (const auto& spec : kKeys) v.push_back(compile(spec));
    return v;
  }();
  return patterns;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool segment_matches(const PatternSegment& p, const std::string& s) {
  if (p.placeholder == Placeholder::kNone) return s == p.prefix;
  if (s.size() <= p.prefix.size() + p.suffix.size()) return false;
  if (s.compare(0, p.prefix.size(), p.prefix) != 0) return false;
  if (s.compare(s.size() - p.suffix.size(), p.suffix.size(), p.suffix) != 0) return false;
  const std::string middle = s.substr(p.prefix.size(), s.size() - p.prefix.size() - p.suffix.size());
  switch (p.placeholder) {
    case Placeholder::kId:
      return all_digits(middle) && middle.size() <= 2 && (middle == "0" || middle[0] != '0') &&
             std::stoi(middle) < kMaxWorkflows;
    case Placeholder::kIndex:
      return all_digits(middle) && middle.size() <= 6;
    default:
      return true;
  }
}

bool matches(const CompiledPattern& p, const std::vector<std::string>& parts) {
  if (p.open_tail ? parts.size() <= p.segments.size() : parts.size() != p.segments.size()) {
    return false;
  }
  for (size_t i = 0; i < p.segments.size(); ++i) {
    if (!segment_matches(p.segments[i], parts[i])) return false;
  }
  return true;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string_view>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

std::string number_text(double v) {
  // Whole numbers in full (1073741824, not 1.07374e+09).
  if (std::abs(v) < 1e15 && v == std::floor(v)) return std::to_string(static_cast<long long>(v));
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string duration_text(double ms) {
  if (ms >= 60000 && std::fmod(ms, 60000) == 0) return number_text(ms / 60000) + "m";
  if (ms >= 1000 && std::fmod(ms, 1000) == 0) return number_text(ms / 1000) + "s";
  return number_text(ms) + "ms";
}

// Duration bounds are kept in milliseconds.
std::string duration_bounds_text(const KeySpec& spec) {
  if (spec.min && spec.max) return duration_text(*spec.min) + " .. " + duration_text(*spec.max);
  if (spec.max) return "<= " + duration_text(*spec.max);
  if (spec.min) return ">= " + duration_text(*spec.min);
  return "";
}

std::string data_size_text(double bytes) {
  for (const auto& [unit, factor] : {std::pair{"GB", 1073741824.0}, {"MB", 1048576.0}, {"KB", 1024.0}}) {
    if (bytes >= factor && std::fmod(bytes, factor) == 0) return number_text(bytes / factor) + unit;
  }
  return number_text(bytes) + "B";
}

std::string bounds_text(const KeySpec& spec) {
  if (spec.type == T::kDuration) return duration_bounds_text(spec);
  if (spec.type == T::kDataSize && spec.min && spec.max) return data_size_text(*spec.min) + " .. " + data_size_text(*spec.max);
  if (spec.type == T::kEnum) return join(spec.allowed, ", ");
  if (spec.type == T::kBool) return "true, false";
  if (spec.type == T::kLogLevel) return "TRACE, DEBUG, INFO, WARN, ERROR, OFF";
  std::string out;
  if (spec.min && spec.max) return number_text(*spec.min) + " .. " + number_text(*spec.max);
  if (spec.min) out = ">= " + number_text(*spec.min);
  if (spec.max) out = "<= " + number_text(*spec.max);
  return out;
}

}  // namespace

const std::vector<KeySpec>& key_table() { return kKeys; }

std::string_view type_name(ValueType type) {
  switch (type) {
    case T::kString: return "string";
    case T::kBool: return "boolean";
    case T::kInt: return "integer";
    case T::kDouble: return "number";
    case T::kEnum: return "enum";
    case T::kList: return "list";
    case T::kDuration: return "duration";
    case T::kDataSize: return "data size";
    case T::kLogLevel: return "log level";
    case T::kAny: return "any";
  }
  return "?";
}

const KeySpec* find_spec(const std::string& canonical) {
  const auto parts = split_key(canonical);
  for (const auto& p : compiled()) {
    if (matches(p, parts)) return p.spec;
  }
  return nullptr;
}

bool parse_bool(const std::string& text, bool& out) {
  const std::string t = canonical_segment(text);
  if (t == "true" || t == "yes" || t == "on" || t == "1") {
    out = true;
    return true;
  }
  if (t == "false" || t == "no" || t == "off" || t == "0") {
    out = false;
    return true;
  }
  return false;
}

bool parse_int(const std::string& text, long long& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtoll(text.c_str(), &end, 10);
  return errno == 0 && end == text.c_str() + text.size();
}

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(out);
}

bool parse_duration_ms(const std::string& text, long long& out) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return false;
  const long long n = std::stoll(text.substr(0, digits));
  const std::string unit = canonical_segment(text.substr(digits));
  static const std::vector<std::pair<std::string, long long>> units = {
      {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  for (const auto& [name, factor] : units) {
    if (unit == name) {
      return !__builtin_mul_overflow(n, factor, &out);  // 15 digits of days do not fit
    }
  }
  return false;
}

bool parse_data_size(const std::string& text, long long& out) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return false;
  const long long n = std::stoll(text.substr(0, digits));
  const std::string unit = canonical_segment(text.substr(digits));
  static const std::vector<std::pair<std::string, long long>> units = {
      {"", 1}, {"b", 1}, {"kb", 1LL << 10}, {"mb", 1LL << 20}, {"gb", 1LL << 30}, {"tb", 1LL << 40}};
  for (const auto& [name, factor] : units) {
    if (unit == name) return !__builtin_mul_overflow(n, factor, &out);
  }
  return false;
}

std::vector<std::string> split_comma_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::string canonical_enum(const std::string& text) {
  std::string out;
  for (char c : text) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::optional<std::string> check_value(const KeySpec& spec, const std::string& value) {
  auto out_of_bounds = [&](double v) {
    return (spec.min && v < *spec.min) || (spec.max && v > *spec.max);
  };
  switch (spec.type) {
    case T::kBool: {
      bool b;
      if (!parse_bool(value, b)) return "must be true or false";
      break;
    }
    case T::kInt: {
      long long n;
      if (!parse_int(value, n)) return "must be an integer (" + bounds_text(spec) + ")";
      if (out_of_bounds(static_cast<double>(n))) return "must be " + bounds_text(spec);
      break;
    }
    case T::kDouble: {
      double d;
      if (!parse_double(value, d)) return "must be a number (" + bounds_text(spec) + ")";
      if (out_of_bounds(d)) return "must be " + bounds_text(spec);
      break;
    }
    case T::kDuration: {
      long long ms;
      if (!parse_duration_ms(value, ms)) {
        return "must be a duration such as 500ms, 30s, 2m (a plain number is milliseconds)";
      }
      if (out_of_bounds(static_cast<double>(ms))) return "must be " + duration_bounds_text(spec);
      break;
    }
    case T::kDataSize: {
      long long bytes;
      if (!parse_data_size(value, bytes)) return "must be a size such as 512B, 8KB, 16MB (a plain number is bytes)";
      if (out_of_bounds(static_cast<double>(bytes))) return "must be " + bounds_text(spec);
      break;
    }
    case T::kEnum: {
      const std::string v = canonical_enum(value);
      if (std::none_of(spec.allowed.begin(), spec.allowed.end(),
                       [&](std::string_view a) { return canonical_enum(std::string(a)) == v; })) {
        return "must be one of " + bounds_text(spec);
      }
      break;
    }
    case T::kLogLevel: {
      static const std::vector<std::string> levels = {"trace", "debug", "info", "warn",
                                                      "error", "fatal", "off"};
      if (std::find(levels.begin(), levels.end(), canonical_segment(value)) == levels.end()) {
        return "must be one of " + bounds_text(spec);
      }
      break;
    }
    case T::kString:
    case T::kList:
    case T::kAny:
      break;
  }
  return std::nullopt;
}

std::optional<std::string> closest_known_key(const std::string& canonical) {
  // No key is this long; the edit distance is quadratic, so a huge junk key would stall.
  constexpr size_t kLongestWorthSuggesting = 256;
  if (canonical.size() > kLongestWorthSuggesting) return std::nullopt;
  const auto parts = split_key(canonical);
  const KeySpec* best = nullptr;
  size_t best_distance = SIZE_MAX;
  std::vector<std::string> best_fill;
  for (const auto& p : compiled()) {
    // Build the candidate key, filling placeholders with the operator's own segments.
    std::string candidate;
    std::vector<std::string> fill;
    for (size_t i = 0; i < p.segments.size(); ++i) {
      const auto& seg = p.segments[i];
      std::string piece = seg.prefix;
      if (seg.placeholder != Placeholder::kNone) {
        std::string value = i < parts.size() ? parts[i] : "0";
        if (value.size() > seg.prefix.size() + seg.suffix.size() &&
            value.compare(0, seg.prefix.size(), seg.prefix) == 0) {
          value = value.substr(seg.prefix.size(), value.size() - seg.prefix.size() - seg.suffix.size());
        }
        fill.push_back(value);
        piece += value + seg.suffix;
      }
      candidate += (candidate.empty() ? "" : ".") + piece;
    }
    if (p.open_tail) continue;  // free-form maps accept anything below them
    const size_t d = edit_distance(canonical, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = p.spec;
      best_fill = fill;
    }
  }
  if (!best || best_distance > std::max<size_t>(3, canonical.size() / 4)) return std::nullopt;
  std::string display(best->pattern);
  for (const auto& value : best_fill) {
    const size_t open = display.find('<');
    const size_t close = display.find('>', open);
    display.replace(open, close - open + 1, value);
  }
  return display;
}

std::string reference_markdown() {
  std::string out =
      "| Key | Type | Default | Allowed | Description |\n|---|---|---|---|---|\n";
  for (const auto& spec : kKeys) {
    std::string type(type_name(spec.type));
    if (spec.secret) type += " (secret)";
    std::string description(spec.description);
    // Keep placeholders visible in Markdown.
    for (size_t pos = 0; (pos = description.find('<', pos)) != std::string::npos; pos += 4) {
      description.replace(pos, 1, "&lt;");
    }
    std::string pattern(spec.pattern);
    out += "| `" + pattern + "` | " + type + " | " +
           (spec.default_value.empty() ? "" : "`" + std::string(spec.default_value) + "`") +
           " | " + bounds_text(spec) + " | " + description + " |\n";
  }
  return out;
}

std::string reference_text() {
  std::string out;
  for (const auto& spec : kKeys) {
    out += "  " + std::string(spec.pattern) + "  (" + std::string(type_name(spec.type));
    if (!spec.default_value.empty()) out += ", default " + std::string(spec.default_value);
    const std::string bounds = bounds_text(spec);
    if (!bounds.empty() && spec.type != T::kBool) out += "; " + bounds;
    out += ")\n      " + std::string(spec.description) + "\n";
  }
  return out;
}

}  // namespace mi::config
