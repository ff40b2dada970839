#pragma once
// The configuration the runtime works with, checked across keys (aliases, bindings,
// binders, users). Built once at start-up from a validated Config.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "config/config.h"

namespace mi::config {

enum class LeaderMode { kStandalone, kActiveStandby, kActiveActive };

// The actuator endpoint ids, as management.endpoints.web.exposure.* name them.
inline constexpr const char* kActuatorEndpoints[] = {"health", "info", "leaderelection", "loggers", "prometheus",
                                                     "workflows"};
std::string_view to_string(LeaderMode mode);

struct BindingSettings {
  std::string name;         // input-3, output-3
  std::string destination;
  std::string binder_name;  // as declared, or the type when a type is named directly
  std::string binder_type;  // e.g. "file"; empty if it could not be resolved
  std::map<std::string, std::string> environment;  // canonical keys below .environment
  // Binder-specific binding options, canonical keys below
  // spring.cloud.stream.<binder type>.bindings.<name> (e.g. "consumer.prefetch").
  std::map<std::string, std::string> options;
  // Inputs only: the workflow's in-flight window (acknowledgment settings), the default of
  // how much an input may take ahead (rabbit prefetch).
  int in_flight_window = 1;
  // Inputs only: true in active_active, where every instance consumes this input at the same
  // time; the binder must then hand each message to one instance only.
  bool shared = false;
  std::string group = "";     // spring.cloud.stream.bindings.<name>.group; empty: the binder's default
  // In active_active: this instance among those working side by side (Settings::instance_name);
  // empty in the other modes.
  std::string instance_name = "";
};

// A binder's environment value: `key` below spring.cloud.stream.binders.<name>.environment
// (canonical, e.g. "spring.rabbitmq.host"), or the key table's default when unset or empty.
// Throws std::logic_error if the table does not declare that key: a binder cannot read a key,
// or fall back to a default, that the configuration reference does not show.
std::string environment_value(const BindingSettings& binding, const std::string& key);
// A broker port from a binder's environment: the value set, else `tls_port` when TLS is on,
// else the table's default (the plain port).
int environment_port(const BindingSettings& binding, const std::string& key, bool tls, int tls_port);

// solace.connector.workflows.<id>.acknowledgment.* (or the default under
// solace.connector.default.workflow.acknowledgment.*).
struct AcknowledgmentSettings {
  // false: one message at a time; true: up to back_pressure_threshold in flight.
  bool publish_async = false;
  int back_pressure_threshold = 255;
  Millis publish_timeout{600000};  // how long the output may take to confirm; -1 in config = forever
  int window() const { return publish_async ? back_pressure_threshold : 1; }
};

// What happens when the output refuses a message (Spring Cloud Stream's consumer retry keys
// on the input binding: spring.cloud.stream.bindings.input-<id>.consumer.*).
struct RetrySettings {
  int max_attempts = 3;  // attempts per message before it is dead-lettered or handed back
  Millis initial_interval{1000};
  Millis max_interval{10000};
  double multiplier = 2.0;
};

// A message the process died holding (workflow/poison_guard.h).
struct PoisonSettings {
  // Deaths with one message in hand before it is set aside; 0: off. The key table's default
  // is 2; 0 here so that settings made by hand (tests) touch no file.
  int max_crashes = 0;
  std::string directory = "poison-guard";  // where the records live (relative: to the working directory)
  std::string record_name;  // workflow-<id>, plus -<instance name> in active_active
};

struct WorkflowSettings {
  int id = 0;
  bool enabled = false;
  BindingSettings input;
  BindingSettings output;
  AcknowledgmentSettings acknowledgment;
  RetrySettings retry;
  PoisonSettings poison;
};

struct UserSettings {
  std::string name;
  std::string password;
  std::vector<std::string> roles;
  bool is_admin() const;
};

// One entry of solace.connector.management.session.host.
struct BrokerAddress {
  std::string scheme;  // amqp, amqps or file
  std::string host;    // empty for file
  int port = 0;
  std::string path;    // directory for file
  std::string display() const;  // never holds credentials
};

// The protocol of a management session's amqp(s):// hosts.
enum class SessionProtocol { kAmqp091, kAmqp10 };

struct SessionSettings {
  std::vector<BrokerAddress> hosts;
  SessionProtocol protocol = SessionProtocol::kAmqp091;
  std::string msg_vpn;  // as configured
  std::string vhost;    // RabbitMQ virtual host ("default" -> "/")
  std::string username;  // over AMQP 1.0, empty means SASL ANONYMOUS
  std::string password;
  int connect_retries = 1;
  int reconnect_retries = -1;
  int connect_retries_per_host = 20;
  Millis reconnect_wait{3000};
  int heartbeat_seconds = 1;
  Millis token_refresh{60000};
  std::string trust_store;
  std::vector<std::string> ignored_keys;  // vendor session properties that mean nothing here

  bool is_file() const { return !hosts.empty() && hosts.front().scheme == "file"; }
  std::string hosts_display() const;
};

// server.ssl.*: HTTPS for the management API.
struct ServerSslSettings {
  bool enabled = false;
  std::string certificate;
  std::string certificate_private_key;
  std::string trust_certificate;
  std::string client_auth = "none";  // none, want, need
};

struct Settings {
  LeaderMode mode = LeaderMode::kStandalone;
  std::string instance_name;  // as configured, else <host name>-<server.port>
  BackoffPolicy fail_over;
  std::string management_queue;
  SessionSettings session;

  std::string server_address;
  int server_port = 8090;
  ServerSslSettings server_ssl;
  long long server_max_header_bytes = 8192;
  Millis server_connection_timeout{5000};
  int server_max_connections = 512;
  int server_max_connections_per_address = 128;
  bool security_enabled = true;
  // management.endpoints.web.exposure.include minus .exclude; all by default.
  std::set<std::string> exposed_endpoints = {std::begin(kActuatorEndpoints), std::end(kActuatorEndpoints)};
  std::vector<UserSettings> users;

  std::vector<WorkflowSettings> workflows;  // ids 0..19, enabled or not

  Millis shutdown_timeout{30000};
  std::string root_log_level;
  std::string log_format;        // logging.structured.format.console: "" (plain) or "ecs"
  std::string log_service_name = "micro-integration";  // logging.structured.ecs.service.name
  std::map<std::string, std::string> component_log_levels;
};

// `binder_types`: the types in the binder registry of this build.
Settings build_settings(const Config& config, const std::set<std::string>& binder_types,
                        Problems& problems);

}  // namespace mi::config
