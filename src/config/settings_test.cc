#include "config/settings.h"

#include <gtest/gtest.h>

#include "config/property_sources.h"

namespace mi::config {
namespace {

const std::set<std::string> kTypes = {"file"};

Settings build(const std::string& yaml, Problems& problems) {
  PropertySet set;
  load_yaml_text(yaml, "t.yml", kFileRank, set, problems);
  return build_settings(Config(std::move(set)), kTypes, problems);
}

std::string joined(const Problems& problems) {
  std::string out;
  for (const auto& p : problems) out += p.to_string() + "\n";
  return out;
}

TEST(Settings, ModeAliasIsAcceptedAndConflictIsAnError) {
  Problems p1;
  EXPECT_EQ(build("solace.connector.leader-election.mode: active_active\n", p1).mode,
            LeaderMode::kActiveActive);
  EXPECT_TRUE(p1.empty()) << joined(p1);

  Problems p2;
  build("solace.connector.leader-election.mode: active_active\n"
        "solace.connector.management.leader-election.mode: standalone\n", p2);
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_NE(p2[0].message.find("contradicts"), std::string::npos);

  Problems p3;
  build("solace.connector.leader-election.mode: Active-Active\n"
        "solace.connector.management.leader-election.mode: active_active\n", p3);
  EXPECT_TRUE(p3.empty()) << joined(p3);
}

TEST(Settings, BindingsResolveBinderByNameDefaultOrType) {
  Problems problems;
  const Settings s = build(R"(
spring.cloud.stream:
  binders:
    spool: {type: file, environment: {some.option: x}}
  bindings:
    input-0: {destination: /tmp/in, binder: spool}
    output-0: {destination: /tmp/out}
    input-1: {destination: /tmp/in1, binder: file}
    output-1: {destination: /tmp/out1}
solace.connector.workflows:
  0.enabled: true
  1.enabled: true
)", problems);
  EXPECT_TRUE(problems.empty()) << joined(problems);
  EXPECT_EQ(s.workflows[0].input.binder_type, "file");
  EXPECT_EQ(s.workflows[0].input.environment.at("some.option"), "x");
  EXPECT_EQ(s.workflows[0].output.binder_name, "spool");  // the only declared binder
  EXPECT_EQ(s.workflows[1].input.binder_type, "file");
  EXPECT_TRUE(s.workflows[1].enabled);
  EXPECT_FALSE(s.workflows[2].enabled);
}

TEST(Settings, UnavailableBinderTypeOnEnabledWorkflowIsAnError) {
  Problems problems;
  build(R"(
spring.cloud.stream:
  binders:
    sol: {type: solace}
  bindings:
    input-4: {destination: q}
    output-4: {destination: t}
solace.connector.workflows.4.enabled: true
)", problems);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(joined(problems).find("binder type 'solace' is not available in this build (available: file)"),
            std::string::npos) << joined(problems);
}

TEST(Settings, DisabledWorkflowMayBeIncomplete) {
  Problems problems;
  build("spring.cloud.stream.bindings.input-5.binder: nowhere\n", problems);
  EXPECT_TRUE(problems.empty()) << joined(problems);
}

TEST(Settings, EnabledWorkflowWithoutDestinationIsAnError) {
  Problems problems;
  build("solace.connector.workflows.2.enabled: true\nspring.cloud.stream.default-binder: file\n",
        problems);
  EXPECT_EQ(problems.size(), 2u) << joined(problems);  // input-2 and output-2
}

TEST(Settings, UsersNeedNameAndPassword) {
  Problems problems;
  const Settings s = build(R"(
solace.connector.security.users:
  - {name: reader, password: r}
  - {name: boss, password: b, roles: [admin]}
  - {name: nopass}
)", problems);
  ASSERT_EQ(s.users.size(), 2u);
  EXPECT_FALSE(s.users[0].is_admin());
  EXPECT_TRUE(s.users[1].is_admin());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("needs a password"), std::string::npos);
}

TEST(Settings, FailOverBackOffIsReadAndChecked) {
  Problems problems;
  const Settings s = build(R"(
solace.connector.management.leader-election.fail-over:
  max-attempts: 5
  back-off-initial-interval: 200
  back-off-max-interval: 100
)", problems);
  EXPECT_EQ(s.fail_over.max_attempts, 5);
  EXPECT_EQ(s.fail_over.initial, Millis{200});
  ASSERT_EQ(problems.size(), 1u);
}

}  // namespace
}  // namespace mi::config

namespace mi::config {
namespace {

TEST(Settings, ActiveStandbySessionHostsParseAndCheck) {
  Problems problems;
  const Settings s = build(R"(
solace.connector.management:
  leader-election.mode: active_standby
  queue: mi-leader
  session:
    host: amqp://a.example:5673, amqps://b.example, broker-c
    msgVpn: default
    client-username: mi
    client-password: pw
    GENERATE_SEQUENCE_NUMBERS: true
)", problems);
  EXPECT_TRUE(problems.empty()) << joined(problems);
  ASSERT_EQ(s.session.hosts.size(), 3u);
  EXPECT_EQ(s.session.hosts[0].display(), "amqp://a.example:5673");
  EXPECT_EQ(s.session.hosts[1].display(), "amqps://b.example:5671");
  EXPECT_EQ(s.session.hosts[2].display(), "amqp://broker-c:5672");
  EXPECT_EQ(s.session.vhost, "/");
  EXPECT_EQ(s.session.reconnect_retries, -1);
  EXPECT_EQ(s.session.ignored_keys, std::vector<std::string>{"solace.connector.management.session.GENERATE_SEQUENCE_NUMBERS"});
}

TEST(Settings, ActiveStandbyNeedsQueueUserAndValidHosts) {
  Problems problems;
  build("solace.connector.management.leader-election.mode: active_standby\n"
        "solace.connector.management.session.host: ftp://x, amqp://user:secret@y\n",
        problems);
  const std::string all = joined(problems);
  EXPECT_NE(all.find("scheme 'ftp://' is not spoken; use amqp://, amqps://"), std::string::npos) << all;
  EXPECT_NE(all.find("credentials do not belong in the URL"), std::string::npos) << all;
  EXPECT_EQ(all.find("secret"), std::string::npos) << all;
  EXPECT_NE(all.find("needs a management queue"), std::string::npos) << all;
  EXPECT_NE(all.find("needs a broker user"), std::string::npos) << all;
}

TEST(Settings, TheVendorsSmfUrlIsAnErrorThatSaysHowToReachItsBrokerOverAmqp10) {
  for (const std::string url : {"tcp://broker:55555", "tcps://broker:55443", "smf://broker"}) {
    Problems problems;
    build("solace.connector.management: {leader-election.mode: active_standby, queue: q,"
          " session: {host: '" + url + "', client-username: u}}\n",
          problems);
    const std::string all = joined(problems);
    ASSERT_EQ(problems.size(), 1u) << all;
    EXPECT_NE(all.find("solace.connector.management.session.host"), std::string::npos) << all;
    EXPECT_NE(all.find("the vendor's SMF protocol, which micro-integration does not speak"), std::string::npos) << all;
    EXPECT_NE(all.find("AMQP port of the message VPN"), std::string::npos) << all;
    EXPECT_NE(all.find("solace.connector.management.session.protocol=amqp-1.0"), std::string::npos) << all;
    EXPECT_NE(all.find("Schemes spoken: amqp://, amqps://, file://"), std::string::npos) << all;
  }
}

TEST(Settings, Amqp10IsChosenByKeyAndMayLogInAnonymously) {
  Problems defaults;
  const Settings old = build("solace.connector.management: {leader-election.mode: active_standby, queue: q,"
                             " session: {host: 'amqp://b', client-username: u}}\n",
                             defaults);
  EXPECT_TRUE(defaults.empty()) << joined(defaults);
  EXPECT_EQ(old.session.protocol, SessionProtocol::kAmqp091);  // an existing RabbitMQ configuration is unchanged

  Problems problems;
  const Settings s = build("solace.connector.management: {leader-election.mode: active_standby, queue: q,"
                           " session: {host: 'amqps://b:5671', protocol: AMQP-1.0}}\n",
                           problems);
  EXPECT_TRUE(problems.empty()) << joined(problems);  // no user: SASL ANONYMOUS
  EXPECT_EQ(s.session.protocol, SessionProtocol::kAmqp10);

  const KeySpec* protocol = find_spec("solace.connector.management.session.protocol");
  ASSERT_NE(protocol, nullptr);
  EXPECT_FALSE(check_value(*protocol, "amqp-1.0"));
  EXPECT_FALSE(check_value(*protocol, "AMQP_0_9_1"));
  EXPECT_EQ(check_value(*protocol, "amqp-2"), "must be one of amqp-0-9-1, amqp-1.0");
}

TEST(Settings, FileSessionTakesOneAbsoluteDirectoryAndALockFileName) {
  Problems ok;
  const Settings s = build("solace.connector.management: {leader-election.mode: active_standby, queue: l.lock,"
                           " session.host: 'file:///var/lib/mi'}\n", ok);
  EXPECT_TRUE(ok.empty()) << joined(ok);
  EXPECT_TRUE(s.session.is_file());
  Problems bad;
  build("solace.connector.management: {leader-election.mode: active_standby, queue: a/b,"
        " session.host: 'file://relative'}\n", bad);
  EXPECT_EQ(bad.size(), 2u) << joined(bad);
}

}  // namespace
}  // namespace mi::config

namespace mi::config {
namespace {

TEST(Settings, AcknowledgmentKeysFallBackToTheDefaultWorkflow) {
  Problems problems;
  const Settings s = build(
      "solace.connector.default.workflow.acknowledgment: {publish-async: true, back-pressure-threshold: 40, "
      "publish-timeout: -1}\n"
      "solace.connector.workflows.3.acknowledgment.back-pressure-threshold: 7\n"
      "solace.connector.workflows.4.acknowledgment.publish-async: false\n"
      "spring.cloud.stream.bindings.input-3.consumer: {max-attempts: 5, back-off-initial-interval: 100, "
      "back-off-multiplier: 3}\n",
      problems);
  EXPECT_TRUE(problems.empty()) << joined(problems);
  const auto& w3 = s.workflows[3].acknowledgment;
  EXPECT_TRUE(w3.publish_async);
  EXPECT_EQ(w3.back_pressure_threshold, 7);
  EXPECT_EQ(w3.window(), 7);
  EXPECT_GT(w3.publish_timeout, Millis{1000LL * 3600 * 24 * 365});  // -1: forever
  EXPECT_EQ(s.workflows[3].input.in_flight_window, 7);
  EXPECT_EQ(s.workflows[4].acknowledgment.window(), 1);
  EXPECT_EQ(s.workflows[0].acknowledgment.window(), 40);
  EXPECT_EQ(s.workflows[3].retry.max_attempts, 5);
  EXPECT_EQ(s.workflows[3].retry.initial_interval, Millis{100});
  EXPECT_EQ(s.workflows[3].retry.multiplier, 3.0);
  EXPECT_EQ(s.workflows[0].retry.max_attempts, 3);
  EXPECT_EQ(s.workflows[0].retry.multiplier, 2.0);
  EXPECT_EQ(s.workflows[0].retry.max_interval, Millis{10000});
}

TEST(Settings, DefaultsAreOneMessageInFlightAndTenMinutesToConfirm) {
  Problems problems;
  const Settings s = build("", problems);
  EXPECT_FALSE(s.workflows[0].acknowledgment.publish_async);
  EXPECT_EQ(s.workflows[0].acknowledgment.window(), 1);
  EXPECT_EQ(s.workflows[0].acknowledgment.back_pressure_threshold, 255);
  EXPECT_EQ(s.workflows[0].acknowledgment.publish_timeout, Millis{600000});
}

// Each default lives in the key table. The structs' own initial values (what a test or a
// caller that builds Settings by hand gets) must agree with it, field by field.
TEST(Settings, TheStructDefaultsAreTheKeyTableDefaults) {
  Problems problems;
  const Settings from_table = build("", problems);
  const Settings by_hand;
  EXPECT_EQ(from_table.server_port, by_hand.server_port);
  EXPECT_EQ(from_table.server_max_header_bytes, by_hand.server_max_header_bytes);
  EXPECT_EQ(from_table.server_connection_timeout, by_hand.server_connection_timeout);
  EXPECT_EQ(from_table.server_max_connections, by_hand.server_max_connections);
  EXPECT_EQ(from_table.server_max_connections_per_address, by_hand.server_max_connections_per_address);
  EXPECT_EQ(from_table.server_ssl.enabled, by_hand.server_ssl.enabled);
  EXPECT_EQ(from_table.server_ssl.client_auth, by_hand.server_ssl.client_auth);
  EXPECT_EQ(from_table.security_enabled, by_hand.security_enabled);
  EXPECT_EQ(from_table.shutdown_timeout, by_hand.shutdown_timeout);
  EXPECT_EQ(from_table.mode, by_hand.mode);
  EXPECT_EQ(from_table.log_format, by_hand.log_format);
  EXPECT_EQ(from_table.log_service_name, by_hand.log_service_name);
  EXPECT_EQ(from_table.exposed_endpoints, by_hand.exposed_endpoints);
  EXPECT_EQ(from_table.fail_over.max_attempts, by_hand.fail_over.max_attempts);
  EXPECT_EQ(from_table.fail_over.initial, by_hand.fail_over.initial);
  EXPECT_EQ(from_table.fail_over.max, by_hand.fail_over.max);
  EXPECT_EQ(from_table.fail_over.multiplier, by_hand.fail_over.multiplier);
  const SessionSettings session_by_hand;
  EXPECT_EQ(from_table.session.connect_retries, session_by_hand.connect_retries);
  EXPECT_EQ(from_table.session.reconnect_retries, session_by_hand.reconnect_retries);
  EXPECT_EQ(from_table.session.connect_retries_per_host, session_by_hand.connect_retries_per_host);
  EXPECT_EQ(from_table.session.reconnect_wait, session_by_hand.reconnect_wait);
  EXPECT_EQ(from_table.session.heartbeat_seconds, session_by_hand.heartbeat_seconds);
  EXPECT_EQ(from_table.session.token_refresh, session_by_hand.token_refresh);
  const WorkflowSettings workflow_by_hand;
  const WorkflowSettings& workflow = from_table.workflows.at(0);
  EXPECT_EQ(workflow.enabled, workflow_by_hand.enabled);
  EXPECT_EQ(workflow.acknowledgment.publish_async, workflow_by_hand.acknowledgment.publish_async);
  EXPECT_EQ(workflow.acknowledgment.back_pressure_threshold, workflow_by_hand.acknowledgment.back_pressure_threshold);
  EXPECT_EQ(workflow.acknowledgment.publish_timeout, workflow_by_hand.acknowledgment.publish_timeout);
  EXPECT_EQ(workflow.retry.max_attempts, workflow_by_hand.retry.max_attempts);
  EXPECT_EQ(workflow.retry.initial_interval, workflow_by_hand.retry.initial_interval);
  EXPECT_EQ(workflow.retry.max_interval, workflow_by_hand.retry.max_interval);
  EXPECT_EQ(workflow.retry.multiplier, workflow_by_hand.retry.multiplier);
}

// A key the code mistypes, or reads as the wrong type, fails here instead of reading as 0.
TEST(Settings, ReadingAKeyTheTableDoesNotDeclareIsAProgrammingError) {
  const Config config{PropertySet{}};
  EXPECT_THROW(config.get_int("server.prot"), std::logic_error);
  EXPECT_THROW(config.get_string("solace.connector.workflows.0.enabeld"), std::logic_error);
  EXPECT_THROW(config.get_int("spring.lifecycle.timeout-per-shutdown-phase"), std::logic_error) << "a duration";
  EXPECT_THROW(config.get_bool("server.port"), std::logic_error);
  EXPECT_EQ(config.get_int("server.port"), 8090);
  EXPECT_EQ(config.get_duration_ms("spring.lifecycle.timeout-per-shutdown-phase"), 30000);
}

TEST(Settings, BinderEnvironmentValuesFallBackToTheTableAndUndeclaredOnesAreAProgrammingError) {
  BindingSettings binding;
  binding.environment = {{"spring.rabbitmq.host", "broker-1"}, {"spring.rabbitmq.port", ""}};
  EXPECT_EQ(environment_value(binding, "spring.rabbitmq.host"), "broker-1");
  EXPECT_EQ(environment_value(binding, "spring.rabbitmq.port"), "5672") << "empty reads as unset";
  EXPECT_EQ(environment_value(binding, "spring.rabbitmq.virtualhost"), "/");
  EXPECT_EQ(environment_value(binding, "mqtt.clientid"), "micro-integration");
  EXPECT_THROW(environment_value(binding, "spring.rabbitmq.hots"), std::logic_error) << "only a ** pattern matches";
  EXPECT_EQ(environment_port(binding, "spring.rabbitmq.port", false, 5671), 5672);
  EXPECT_EQ(environment_port(binding, "spring.rabbitmq.port", true, 5671), 5671) << "unset (empty): the TLS port";
  binding.environment["spring.rabbitmq.port"] = "6000";
  EXPECT_EQ(environment_port(binding, "spring.rabbitmq.port", true, 5671), 6000);
}

TEST(Settings, ActiveActiveSharesEveryInputUnderTheInstanceName) {
  const std::string workflow = R"(
spring.cloud.stream.bindings:
  input-0: {destination: /tmp/in, binder: file, group: orders}
  output-0: {destination: /tmp/out, binder: file}
solace.connector.workflows.0.enabled: true
server.port: 8123
)";
  Problems problems;
  const Settings shared = build("solace.connector.leader-election.mode: active_active\n"
                                "solace.connector.management.leader-election.instance-name: node-1\n" + workflow,
                                problems);
  EXPECT_TRUE(problems.empty()) << joined(problems);
  EXPECT_TRUE(shared.workflows[0].input.shared);
  EXPECT_EQ(shared.workflows[0].input.instance_name, "node-1");
  EXPECT_EQ(shared.workflows[0].input.group, "orders");
  EXPECT_EQ(shared.workflows[0].output.instance_name, "node-1");

  // Unnamed: <host name>-<server.port>, the same after a restart.
  Problems unnamed_problems;
  const Settings unnamed = build("solace.connector.leader-election.mode: active_active\n" + workflow, unnamed_problems);
  const std::string& name = unnamed.instance_name;
  ASSERT_GT(name.size(), 5u);
  EXPECT_EQ(name.substr(name.size() - 5), "-8123");

  // Elsewhere nothing is shared, and a group is said to have no effect.
  Problems standalone_problems;
  const Settings alone = build(workflow, standalone_problems);
  EXPECT_FALSE(alone.workflows[0].input.shared);
  EXPECT_TRUE(alone.workflows[0].output.instance_name.empty());
  ASSERT_EQ(standalone_problems.size(), 1u) << joined(standalone_problems);
  EXPECT_EQ(standalone_problems[0].severity, ConfigProblem::Severity::kWarning);
  EXPECT_NE(standalone_problems[0].message.find("only in active_active"), std::string::npos);
}

TEST(Settings, AnInstanceNameOrGroupThatCannotBecomeAClientIdOrTopicFilterIsAnError) {
  Problems problems;
  build("solace.connector.leader-election.mode: active_active\n"
        "solace.connector.management.leader-election.instance-name: ../etc\n"
        "spring.cloud.stream.bindings:\n"
        "  input-0: {destination: /tmp/in, binder: file, group: a/b}\n"
        "  output-0: {destination: /tmp/out, binder: file}\n"
        "solace.connector.workflows.0.enabled: true\n",
        problems);
  ASSERT_EQ(problems.size(), 2u) << joined(problems);
  EXPECT_EQ(problems[0].key, "solace.connector.management.leader-election.instance-name");
  EXPECT_NE(problems[0].message.find("letters, digits"), std::string::npos);
  EXPECT_NE(problems[1].key.find("input-0.group"), std::string::npos);
  EXPECT_NE(problems[1].message.find("'/'"), std::string::npos);
}

TEST(Settings, AnMqttInputAtQosZeroInActiveActiveIsWarnedAboutLoss) {
  PropertySet set;
  Problems problems;
  load_yaml_text(R"(
solace.connector.leader-election.mode: active_active
spring.cloud.stream:
  binders.mq: {type: mqtt, environment: {mqtt: {qos: 0}}}
  bindings:
    input-0: {destination: "t/#", binder: mq}
    output-0: {destination: out, binder: mq}
solace.connector.workflows.0.enabled: true
)", "t.yml", kFileRank, set, problems);
  build_settings(Config(std::move(set)), {"mqtt"}, problems);
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].severity, ConfigProblem::Severity::kWarning);
  EXPECT_NE(problems[0].key.find("mqtt.qos"), std::string::npos) << problems[0].key;
  EXPECT_NE(problems[0].message.find("lost"), std::string::npos);
}

TEST(Settings, ExposureIncludeMinusExcludeAndAManagementPortTakesPrecedence) {
  Problems problems;
  const Settings s = build("management.endpoints.web.exposure.include: health,workflows,prometheus,nonsense\n"
                           "management.endpoints.web.exposure.exclude: prometheus\n"
                           "server.port: 8080\nmanagement.server.port: 9090\nmanagement.server.address: 127.0.0.1\n",
                           problems);
  EXPECT_EQ(s.exposed_endpoints, (std::set<std::string>{"health", "workflows"}));
  EXPECT_EQ(s.server_port, 9090);
  EXPECT_EQ(s.server_address, "127.0.0.1");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].message.find("no endpoint 'nonsense'"), std::string::npos);
}

}  // namespace
}  // namespace mi::config
