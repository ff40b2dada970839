#include "config/settings.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "config/relaxed_name.h"

namespace mi::config {
namespace {

constexpr const char* kModeKey = "solace.connector.management.leader-election.mode";
constexpr const char* kModeAliasKey = "solace.connector.leader-election.mode";
constexpr const char* kFailOver = "solace.connector.management.leader-election.fail-over.";
constexpr const char* kBinders = "spring.cloud.stream.binders";

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

LeaderMode parse_mode(const std::string& text) {
  const std::string v = canonical_enum(text);
  if (v == "active_standby") return LeaderMode::kActiveStandby;
  if (v == "active_active") return LeaderMode::kActiveActive;
  return LeaderMode::kStandalone;
}

LeaderMode resolve_mode(const Config& config, Problems& problems) {
  if (!config.is_set(kModeAliasKey)) return parse_mode(config.get_string(kModeKey));
  const std::string alias = config.get_string(kModeAliasKey);
  if (config.is_set(kModeKey) &&
      canonical_enum(config.get_string(kModeKey)) != canonical_enum(alias)) {
    problems.push_back({ConfigProblem::Severity::kError, config.written_key(kModeAliasKey),
                        config.origin(kModeAliasKey),
                        "'" + alias + "' contradicts " + config.written_key(kModeKey) + "='" +
                            config.get_string(kModeKey) + "' (from " + config.origin(kModeKey) +
                            "); set one of them, or both to the same value"});
  }
  return parse_mode(alias);
}

BindingSettings resolve_binding(const Config& config, const std::string& name, bool enabled,
                                const std::set<std::string>& binder_types, Problems& problems) {
  BindingSettings b;
  b.name = name;
  const std::string prefix = "spring.cloud.stream.bindings." + name + ".";
  b.destination = config.get_string(prefix + "destination");
  auto report = [&](const std::string& key, std::string message) {
    if (!enabled) return;  // a disabled workflow may be half-configured
    problems.push_back({ConfigProblem::Severity::kError, config.written_key(key),
                        config.origin(key), std::move(message)});
  };
  // Set but empty is allowed: for the rabbit binder it is the default exchange.
  if (!config.is_set(prefix + "destination")) {
    report(prefix + "destination", "missing: an enabled workflow needs a destination for " + name);
  }

  const std::set<std::string> declared = config.children(kBinders);
  std::string chosen = config.get_string(prefix + "binder");
  std::string chosen_key = prefix + "binder";
  if (chosen.empty()) {
    chosen = config.get_string("spring.cloud.stream.default-binder");
    chosen_key = "spring.cloud.stream.default-binder";
  }
  if (chosen.empty() && declared.size() == 1) chosen = *declared.begin();
  if (chosen.empty()) {
    report(prefix + "binder",
           declared.empty()
               ? "missing: no binder is named and none is declared (available types: " +
                     join(binder_types) + ")"
               : "missing: several binders are declared (" + join(declared) +
                     "); name one here or set spring.cloud.stream.default-binder");
    return b;
  }
  b.binder_name = chosen;
  const std::string binder_id = canonical_segment(chosen);
  if (declared.count(binder_id)) {
    const std::string binder_prefix = std::string(kBinders) + "." + binder_id;
    b.binder_type = canonical_enum(config.get_string(binder_prefix + ".type"));
    b.environment = config.subtree(binder_prefix + ".environment");
    if (b.binder_type.empty()) {
      report(binder_prefix + ".type", "missing: binder '" + chosen + "' has no type (available: " +
                                          join(binder_types) + ")");
    } else if (!binder_types.count(b.binder_type)) {
      report(binder_prefix + ".type", "binder type '" + b.binder_type +
                                          "' is not available in this build (available: " +
                                          join(binder_types) + ")");
      b.binder_type.clear();
    }
  } else if (binder_types.count(canonical_enum(chosen))) {
    b.binder_type = canonical_enum(chosen);  // Spring allows naming a binder type directly
  } else {
    report(chosen_key, "binder '" + chosen +
                           "' is neither declared under spring.cloud.stream.binders nor a "
                           "binder type (available types: " + join(binder_types) + ")");
  }
  if (!b.binder_type.empty()) {
    b.options = config.subtree("spring.cloud.stream." + b.binder_type + ".bindings." + name);
  }
  return b;
}

// Acknowledgment keys of one workflow, each falling back to the default-workflow key; and
// the retry keys of its input binding.
void resolve_delivery(const Config& config, WorkflowSettings& w, Problems& problems) {
  const std::string own = "solace.connector.workflows." + std::to_string(w.id) + ".acknowledgment.";
  const std::string fallback = "solace.connector.default.workflow.acknowledgment.";
  auto key = [&](const std::string& leaf) { return config.is_set(own + leaf) ? own + leaf : fallback + leaf; };
  w.acknowledgment.publish_async = config.get_bool(key("publish-async"));
  w.acknowledgment.back_pressure_threshold = static_cast<int>(config.get_int(key("back-pressure-threshold")));
  const long long timeout = config.get_int(key("publish-timeout"));
  // -1 = forever; a century is forever for a deadline and cannot overflow steady_clock.
  w.acknowledgment.publish_timeout = timeout < 0 ? Millis{100LL * 365 * 24 * 3600 * 1000} : Millis{timeout};
  w.input.in_flight_window = w.acknowledgment.window();

  const std::string retry = "spring.cloud.stream.bindings." + w.input.name + ".consumer.";
  w.retry.max_attempts = static_cast<int>(config.get_int(retry + "max-attempts"));
  w.retry.initial_interval = Millis{config.get_int(retry + "back-off-initial-interval")};
  w.retry.max_interval = Millis{config.get_int(retry + "back-off-max-interval")};
  w.retry.multiplier = config.get_double(retry + "back-off-multiplier");
  w.poison.max_crashes = static_cast<int>(config.get_int(retry + "max-crashes"));
  w.poison.directory = config.get_string("solace.connector.poison-guard.directory");
  w.poison.record_name = "workflow-" + std::to_string(w.id);
  if (w.enabled && w.retry.max_interval < w.retry.initial_interval) {
    problems.push_back({ConfigProblem::Severity::kError, config.written_key(retry + "back-off-max-interval"),
                        config.origin(retry + "back-off-max-interval"),
                        "must be >= back-off-initial-interval (" + std::to_string(w.retry.initial_interval.count()) +
                            ")"});
  }
}

std::vector<UserSettings> resolve_users(const Config& config, Problems& problems) {
  std::vector<UserSettings> users;
  const std::string prefix = "solace.connector.security.users";
  std::vector<long long> indexes;
  for (const auto& child : config.children(prefix)) {
    long long i;
    if (parse_int(child, i)) indexes.push_back(i);
  }
  std::sort(indexes.begin(), indexes.end());
  std::set<std::string> names;
  for (long long i : indexes) {
    const std::string p = prefix + "[" + std::to_string(i) + "].";
    if (!find_spec(canonical_key(p + "name"))) continue;  // an index past the table's: validate() reported it
    UserSettings u{config.get_string(p + "name"), config.get_string(p + "password"),
                   config.get_list(p + "roles")};
    if (u.name.empty()) {
      problems.push_back({ConfigProblem::Severity::kError, p + "name", config.origin(p + "password"),
                          "missing: every user needs a name"});
      continue;
    }
    if (u.password.empty()) {
      problems.push_back({ConfigProblem::Severity::kError, p + "password", config.origin(p + "name"),
                          "missing: user '" + u.name + "' needs a password"});
      continue;
    }
    if (!names.insert(u.name).second) {
      problems.push_back({ConfigProblem::Severity::kError, p + "name", config.origin(p + "name"),
                          "user '" + u.name + "' is declared twice"});
      continue;
    }
    users.push_back(std::move(u));
  }
  return users;
}

bool parse_address(const std::string& text, BrokerAddress& out, std::string& error) {
  std::string rest = text;
  out.scheme = "amqp";
  if (const size_t sep = rest.find("://"); sep != std::string::npos) {
    out.scheme = canonical_enum(rest.substr(0, sep));
    rest = rest.substr(sep + 3);
  }
  if (out.scheme == "tcp" || out.scheme == "tcps" || out.scheme == "smf" || out.scheme == "smfs") {
    // The vendor's own URL (its SMF protocol, port 55555/55443): reading it as AMQP would
    // only log connection failures against a port that speaks something else.
    error = "scheme '" + out.scheme + "://' is the vendor's SMF protocol, which micro-integration does not speak; " +
            "reach the vendor's broker over AMQP 1.0 instead: amqp://<host>:<AMQP port of the message VPN> " +
            "(amqps:// for TLS) with solace.connector.management.session.protocol=amqp-1.0. Schemes spoken: amqp://, " +
            "amqps://, file://";
    return false;
  }
  if (out.scheme == "file") {
    out.path = rest;
    if (out.path.empty() || out.path[0] != '/') {
      error = "file:// needs an absolute directory, e.g. file:///var/lib/micro-integration";
      return false;
    }
    return true;
  }
  if (out.scheme != "amqp" && out.scheme != "amqps") {
    error = "scheme '" + out.scheme + "://' is not spoken; use amqp://, amqps:// (AMQP 0-9-1 or 1.0, as " +
            "solace.connector.management.session.protocol says) or file://";
    return false;
  }
  if (rest.find('@') != std::string::npos) {
    error = "credentials do not belong in the URL; use client-username and client-password";
    return false;
  }
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  out.port = out.scheme == "amqps" ? 5671 : 5672;
  if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    long long port = 0;
    if (!parse_int(rest.substr(colon + 1), port) || port < 1 || port > 65535) {
      error = "port must be 1 .. 65535";
      return false;
    }
    out.port = static_cast<int>(port);
    rest = rest.substr(0, colon);
  }
  out.host = rest;
  if (out.host.empty()) {
    error = "host name missing";
    return false;
  }
  return true;
}

void resolve_session(const Config& config, Settings& s, Problems& problems) {
  const std::string p = "solace.connector.management.session.";
  SessionSettings& session = s.session;
  session.protocol = canonical_enum(config.get_string(p + "protocol")) == canonical_enum("amqp-1.0")
                         ? SessionProtocol::kAmqp10
                         : SessionProtocol::kAmqp091;
  session.msg_vpn = config.get_string(p + "msg-vpn");
  session.vhost = session.msg_vpn == "default" ? "/" : session.msg_vpn;
  session.username = config.get_string(p + "client-username");
  session.password = config.get_string(p + "client-password");
  session.connect_retries = static_cast<int>(config.get_int(p + "connect-retries"));
  session.reconnect_retries = static_cast<int>(config.get_int(p + "reconnect-retries"));
  session.connect_retries_per_host = static_cast<int>(config.get_int(p + "connect-retries-per-host"));
  session.reconnect_wait = Millis{config.get_int(p + "reconnect-retry-wait-in-millis")};
  session.heartbeat_seconds = static_cast<int>(config.get_int(p + "heartbeat-interval-in-seconds"));
  session.trust_store = config.get_string(p + "ssl-trust-store");
  session.token_refresh = Millis{config.get_int(p + "token-refresh-interval-in-millis")};
  for (const auto& [key, value] : config.subtree("solace.connector.management.session")) {
    const std::string full = "solace.connector.management.session." + key;
    const KeySpec* spec = find_spec(full);
    if (spec && spec->type == ValueType::kAny) session.ignored_keys.push_back(config.written_key(full));
  }
  s.management_queue = config.get_string("solace.connector.management.queue");
  if (s.mode != LeaderMode::kActiveStandby) return;

  auto error = [&](const std::string& key, const std::string& message) {
    problems.push_back({ConfigProblem::Severity::kError, config.written_key(key), config.origin(key), message});
  };
  const std::string host_key = p + "host";
  const std::string hosts = config.get_string(host_key);
  const std::vector<std::string> entries = split_comma_list(hosts);
  for (const auto& item : entries) {
    BrokerAddress address;
    std::string why;
    if (!parse_address(item, address, why)) {
      error(host_key, "invalid entry: " + why);
      continue;
    }
    session.hosts.push_back(address);
  }
  if (entries.empty()) error(host_key, "missing: active_standby needs a management broker URL");
  bool mixed = false;
  for (const auto& h : session.hosts) mixed = mixed || (h.scheme == "file") != session.is_file();
  if (mixed || (session.is_file() && session.hosts.size() > 1)) {
    error(host_key, "use either amqp(s):// brokers or one file:// directory");
  }
  const std::string queue_key = "solace.connector.management.queue";
  if (s.management_queue.empty()) {
    error(queue_key, "missing: active_standby needs a management queue (an exclusive, single-active-consumer queue)");
  } else if (session.is_file() && (s.management_queue.find('/') != std::string::npos ||
                                   s.management_queue == "." || s.management_queue == "..")) {
    error(queue_key, "with a file:// host the queue is a lock file name inside that directory, without '/'");
  }
  if (!session.is_file() && session.username.empty() && session.protocol == SessionProtocol::kAmqp091) {
    error(p + "client-username", "missing: the management session needs a broker user");
  }
}

// management.endpoints.web.exposure.include minus .exclude, each "*" or endpoint ids.
std::set<std::string> resolve_exposure(const Config& config, Problems& problems) {
  const std::set<std::string> all(std::begin(kActuatorEndpoints), std::end(kActuatorEndpoints));
  const auto read = [&](const std::string& key) {
    std::set<std::string> ids;
    for (const auto& item : config.get_list(key)) {
      const std::string id = canonical_segment(item);
      if (item == "*") {
        ids.insert(all.begin(), all.end());
      } else if (all.count(id)) {
        ids.insert(id);
      } else if (!item.empty()) {
        problems.push_back({ConfigProblem::Severity::kWarning, config.written_key(key), config.origin(key),
                            "no endpoint '" + item + "'; endpoints are health, info, leaderelection, loggers, "
                            "prometheus, workflows"});
      }
    }
    return ids;
  };
  const std::string include = "management.endpoints.web.exposure.include";
  std::set<std::string> exposed = config.is_set(include) ? read(include) : all;  // the table's default: *
  for (const auto& id : read("management.endpoints.web.exposure.exclude")) exposed.erase(id);
  return exposed;
}

constexpr std::size_t kMaxInstanceNameLength = 64;

bool is_instance_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

// <host name>-<port>: unique on one host (two instances cannot listen on one port) and the
// same after a restart, which is what a persistent MQTT session and a claim directory need.
std::string default_instance_name(int port) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "localhost");
  std::string name;
  for (const char* c = host; *c != '\0' && name.size() < kMaxInstanceNameLength - 6; ++c) {
    name += is_instance_name_char(*c) ? *c : '-';
  }
  return name + "-" + std::to_string(port);
}

std::string resolve_instance_name(const Config& config, int port, Problems& problems) {
  const std::string key = "solace.connector.management.leader-election.instance-name";
  const std::string name = config.get_string(key);
  if (name.empty()) return default_instance_name(port);
  if (name.size() > kMaxInstanceNameLength || name == "." || name == ".." ||
      !std::all_of(name.begin(), name.end(), is_instance_name_char)) {
    problems.push_back({ConfigProblem::Severity::kError, config.written_key(key), config.origin(key),
                        "'" + name + "' is not an instance name: use 1 to 64 letters, digits, '.', '_' or '-' "
                        "(it becomes part of MQTT client ids and directory names)"});
  }
  return name;
}

// Active_active shares every input among the instances; say where that needs care.
void resolve_sharing(const Config& config, Settings& s, Problems& problems) {
  const bool shared = s.mode == LeaderMode::kActiveActive;
  for (auto& w : s.workflows) {
    BindingSettings& in = w.input;
    in.shared = shared;
    // Set only where several instances work side by side: for their MQTT client ids (one
    // client id is one connection at the broker) and the names a file output makes up.
    in.instance_name = shared ? s.instance_name : "";
    w.output.instance_name = shared ? s.instance_name : "";
    // Instances side by side may share a working directory: each keeps its own records.
    if (shared) w.poison.record_name += "-" + s.instance_name;
    const std::string group_key = "spring.cloud.stream.bindings." + in.name + ".group";
    in.group = config.get_string(group_key);
    if (!w.enabled) continue;
    if (!in.group.empty() && in.group.find_first_of("/+#") != std::string::npos) {
      problems.push_back({ConfigProblem::Severity::kError, config.written_key(group_key), config.origin(group_key),
                          "'" + in.group + "' cannot name a consumer group: it must not contain '/', '+' or '#' "
                          "(it becomes part of the MQTT topic filter $share/<group>/<topic>)"});
    }
    if (config.is_set(group_key) && !shared) {
      problems.push_back({ConfigProblem::Severity::kWarning, config.written_key(group_key), config.origin(group_key),
                          "has an effect only in active_active (the mode is " + std::string(to_string(s.mode)) + ")"});
    }
    if (shared && in.binder_type == "mqtt" && environment_value(in, "mqtt.qos") == "0") {
      const std::string qos_key = std::string(kBinders) + "." + canonical_segment(in.binder_name) + ".environment.mqtt.qos";
      problems.push_back({ConfigProblem::Severity::kWarning, config.written_key(qos_key), config.origin(qos_key),
                          "is 0 in active_active: messages the broker has handed to an instance that stops or dies "
                          "are lost; use 1 for at-least-once"});
    }
  }
}

}  // namespace

std::string BrokerAddress::display() const {
  if (scheme == "file") return "file://" + path;
  return scheme + "://" + host + ":" + std::to_string(port);
}

std::string SessionSettings::hosts_display() const {
  std::string out;
  for (const auto& h : hosts) out += (out.empty() ? "" : ",") + h.display();
  return out;
}

std::string_view to_string(LeaderMode mode) {
  switch (mode) {
    case LeaderMode::kStandalone: return "standalone";
    case LeaderMode::kActiveStandby: return "active_standby";
    case LeaderMode::kActiveActive: return "active_active";
  }
  return "standalone";
}

bool UserSettings::is_admin() const {
  return std::any_of(roles.begin(), roles.end(),
                     [](const std::string& r) { return canonical_segment(r) == "admin"; });
}

namespace {

ServerSslSettings resolve_server_ssl(const Config& config, Problems& problems) {
  ServerSslSettings ssl;
  ssl.enabled = config.get_bool("server.ssl.enabled");
  ssl.certificate = config.get_string("server.ssl.certificate");
  ssl.certificate_private_key = config.get_string("server.ssl.certificate-private-key");
  ssl.trust_certificate = config.get_string("server.ssl.trust-certificate");
  ssl.client_auth = canonical_enum(config.get_string("server.ssl.client-auth"));
  if (!ssl.enabled) return ssl;
  const auto require = [&](const std::string& value, const std::string& key, const std::string& what) {
    if (value.empty()) {
      problems.push_back({ConfigProblem::Severity::kError, key, "server.ssl.enabled=true",
                          "is required with server.ssl.enabled=true: " + what});
    }
  };
  require(ssl.certificate, "server.ssl.certificate", "the PEM file of the server's certificate");
  require(ssl.certificate_private_key, "server.ssl.certificate-private-key", "the PEM file of its private key");
  if (ssl.client_auth != "none") {
    require(ssl.trust_certificate, "server.ssl.trust-certificate",
            "the PEM file of the CAs that client certificates chain to (server.ssl.client-auth=" + ssl.client_auth + ")");
  } else if (!ssl.trust_certificate.empty()) {
    problems.push_back({ConfigProblem::Severity::kWarning, "server.ssl.trust-certificate",
                        config.origin("server.ssl.trust-certificate"),
                        "is set but server.ssl.client-auth is none: no client certificate is asked for"});
  }
  return ssl;
}

}  // namespace

std::string environment_value(const BindingSettings& binding, const std::string& key) {
  const std::string declared_key = std::string(kBinders) + ".binder.environment." + key;
  const KeySpec* spec = find_spec(canonical_key(declared_key));
  if (!spec || spec->pattern.ends_with("**")) {
    throw std::logic_error("a binder reads environment key '" + key + "', which the key table does not declare");
  }
  const auto it = binding.environment.find(key);
  return it == binding.environment.end() || it->second.empty() ? std::string(spec->default_value) : it->second;
}

int environment_port(const BindingSettings& binding, const std::string& key, bool tls, int tls_port) {
  const auto it = binding.environment.find(key);
  const bool set = it != binding.environment.end() && !it->second.empty();
  long long port = tls_port;
  if (set || !tls) parse_int(environment_value(binding, key), port);
  return static_cast<int>(port);
}

Settings build_settings(const Config& config, const std::set<std::string>& binder_types,
                        Problems& problems) {
  Settings s;
  s.mode = resolve_mode(config, problems);
  const std::string f = kFailOver;
  s.fail_over.max_attempts = static_cast<int>(config.get_int(f + "max-attempts"));
  s.fail_over.initial = Millis{config.get_int(f + "back-off-initial-interval")};
  s.fail_over.max = Millis{config.get_int(f + "back-off-max-interval")};
  s.fail_over.multiplier = config.get_double(f + "back-off-multiplier");
  if (s.fail_over.max < s.fail_over.initial) {
    problems.push_back({ConfigProblem::Severity::kError, f + "back-off-max-interval",
                        config.origin(f + "back-off-max-interval"),
                        "must be >= back-off-initial-interval (" +
                            std::to_string(s.fail_over.initial.count()) + ")"});
  }

  resolve_session(config, s, problems);

  s.server_address = config.get_string("server.address");
  s.server_port = static_cast<int>(config.get_int("server.port"));
  s.server_ssl = resolve_server_ssl(config, problems);
  s.server_max_header_bytes = config.get_data_size("server.max-http-request-header-size");
  s.server_connection_timeout = Millis{config.get_duration_ms("server.connection-timeout")};
  s.server_max_connections = static_cast<int>(config.get_int("server.max-connections"));
  s.server_max_connections_per_address = static_cast<int>(config.get_int("server.max-connections-per-address"));
  if (config.is_set("management.server.port")) s.server_port = static_cast<int>(config.get_int("management.server.port"));
  if (!config.get_string("management.server.address").empty()) s.server_address = config.get_string("management.server.address");
  s.exposed_endpoints = resolve_exposure(config, problems);
  s.security_enabled = config.get_bool("solace.connector.security.enabled");
  s.users = resolve_users(config, problems);

  for (int id = 0; id < kMaxWorkflows; ++id) {
    WorkflowSettings w;
    w.id = id;
    w.enabled = config.get_bool("solace.connector.workflows." + std::to_string(id) + ".enabled");
    w.input = resolve_binding(config, "input-" + std::to_string(id), w.enabled, binder_types, problems);
    w.output = resolve_binding(config, "output-" + std::to_string(id), w.enabled, binder_types, problems);
    resolve_delivery(config, w, problems);
    s.workflows.push_back(std::move(w));
  }

  s.instance_name = resolve_instance_name(config, s.server_port, problems);
  resolve_sharing(config, s, problems);

  s.shutdown_timeout = Millis{config.get_duration_ms("spring.lifecycle.timeout-per-shutdown-phase")};
  s.root_log_level = config.get_string("logging.level.root");
  s.log_format = canonical_enum(config.get_string("logging.structured.format.console"));
  s.log_service_name = config.get_string("logging.structured.ecs.service.name");
  for (const auto& [logger, level] : config.subtree("logging.level")) {
    if (logger != "root") s.component_log_levels[logger] = level;
  }
  return s;
}

}  // namespace mi::config
