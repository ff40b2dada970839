#include "config/placeholders.h"

#include <gtest/gtest.h>

#include "config/config.h"
#include "config/property_sources.h"
#include "config/relaxed_name.h"

namespace mi::config {
namespace {

struct Loaded {
  PropertySet properties;
  Problems problems;
  std::string value(const std::string& key) const {
    const auto* v = properties.find(canonical_key(key));
    return v ? v->value : "<unset>";
  }
};

Loaded load(const std::string& yaml, const std::vector<std::string>& environment,
            const std::vector<std::string>& command_line = {}) {
  Loaded out;
  load_yaml_text(yaml, "application.yml", kFileRank, out.properties, out.problems);
  load_environment(environment, out.properties);
  load_command_line(command_line, out.properties, out.problems);
  resolve_placeholders(out.properties, environment, out.problems);
  return out;
}

TEST(Placeholders, AnEnvironmentVariableOrTheDefaultFillsTheValue) {
  const auto l = load("server.port: ${PORT:8123}\n"
                      "solace.connector.security.users[0].password: ${ADMIN_PW}\n"
                      "spring.rabbitmq.host: ${RABBIT_HOST:localhost}\n",
                      {"ADMIN_PW=s3cret", "RABBIT_HOST=rabbit-1"});
  EXPECT_TRUE(l.problems.empty());
  EXPECT_EQ(l.value("server.port"), "8123");
  EXPECT_EQ(l.value("solace.connector.security.users[0].password"), "s3cret");
  EXPECT_EQ(l.value("spring.rabbitmq.host"), "rabbit-1");
}

TEST(Placeholders, SpringsOrderCommandLineThenEnvironmentThenOtherProperties) {
  const std::string yaml =
      "app.port: 9000\n"
      "server.port: ${app.port}\n";
  EXPECT_EQ(load(yaml, {}).value("server.port"), "9000");
  // APP_PORT is how Spring's environment source finds app.port.
  EXPECT_EQ(load(yaml, {"APP_PORT=9100"}).value("server.port"), "9100");
  EXPECT_EQ(load(yaml, {"APP_PORT=9100"}, {"--app.port=9200"}).value("server.port"), "9200");
}

TEST(Placeholders, NestedDefaultsTextAroundAndChainsResolve) {
  const auto l = load("a: amqp://${HOST:${FALLBACK_HOST:localhost}}:${PORT:5672}/vhost\n"
                      "b: ${a}\n"
                      "c: ${MISSING:}\n",
                      {"FALLBACK_HOST=broker"});
  EXPECT_TRUE(l.problems.empty());
  EXPECT_EQ(l.value("a"), "amqp://broker:5672/vhost");
  EXPECT_EQ(l.value("b"), "amqp://broker:5672/vhost");  // a property's value is resolved in turn
  EXPECT_EQ(l.value("c"), "");                          // an empty default is a default
}

TEST(Placeholders, ABackslashEscapesAPlaceholderAsSpringDoes) {
  const auto l = load("a: 'cost \\${NOT_A_VAR} and ${X:y}'\n", {});
  EXPECT_TRUE(l.problems.empty());
  EXPECT_EQ(l.value("a"), "cost ${NOT_A_VAR} and y");
}

TEST(Placeholders, AnUnresolvablePlaceholderIsAnErrorNamingKeyAndPlaceholderNotTheValue) {
  const auto l = load("solace.connector.security.users[0].password: pre-${ADMIN_PW}-post\n", {"OTHER=x"});
  ASSERT_EQ(l.problems.size(), 1u);
  const auto& p = l.problems[0];
  EXPECT_EQ(p.severity, ConfigProblem::Severity::kError);
  EXPECT_EQ(p.key, "solace.connector.security.users[0].password");
  EXPECT_EQ(p.origin, "application.yml:1");
  EXPECT_NE(p.message.find("${ADMIN_PW}"), std::string::npos) << p.message;
  EXPECT_EQ(p.message.find("pre-"), std::string::npos) << p.message;
  // Not kept as text, so it is not reported a second time as an invalid value.
  EXPECT_EQ(l.value("solace.connector.security.users[0].password"), "<unset>");
}

TEST(Placeholders, LoopsAndUnclosedPlaceholdersAreErrors) {
  const auto loop = load("a: ${b}\nb: ${a}\n", {});
  ASSERT_EQ(loop.problems.size(), 2u);
  EXPECT_NE(loop.problems[0].message.find("refers to itself"), std::string::npos) << loop.problems[0].message;
  const auto open = load("a: x${y\n", {});
  ASSERT_EQ(open.problems.size(), 1u);
  EXPECT_NE(open.problems[0].message.find("closing"), std::string::npos);
}

TEST(Placeholders, AValueFromASecretIsMaskedAndEveryResolvedValueSaysWhereItCameFrom) {
  const auto l = load("spring.rabbitmq.username: admin\n"
                      "spring.rabbitmq.password: ${RABBIT_PASSWORD}\n"
                      "spring.rabbitmq.addresses: amqp://admin:${RABBIT_PASSWORD}@rabbit-1\n"
                      "server.port: ${PORT:8123}\n",
                      {"RABBIT_PASSWORD=hunter2"});
  ASSERT_TRUE(l.problems.empty());
  const Config config{PropertySet(l.properties)};
  const std::string shown = config.describe_effective();
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("spring.rabbitmq.addresses = ******"), std::string::npos) << shown;
  EXPECT_NE(shown.find("(${RABBIT_PASSWORD} from environment variable RABBIT_PASSWORD)"), std::string::npos) << shown;
  EXPECT_NE(shown.find("spring.rabbitmq.username = admin  [application.yml:1]"), std::string::npos) << shown;
  EXPECT_NE(shown.find("server.port = 8123  [application.yml:4 (${PORT} unset: its default)]"), std::string::npos)
      << shown;
}

TEST(Placeholders, PlaceholdersThatMultiplyAreBoundedNotExpandedForever) {
  // 2^40 expansions if nothing stopped them; each level doubles.
  std::string yaml = "v0: ''\n";
  for (int i = 1; i <= 40; ++i) {
    yaml += "v" + std::to_string(i) + ": ${v" + std::to_string(i - 1) + "}${v" + std::to_string(i - 1) + "}\n";
  }
  const auto l = load(yaml, {});
  ASSERT_FALSE(l.problems.empty());
  bool bounded = false;
  for (const auto& p : l.problems) bounded = bounded || p.message.find("more than 10000 placeholders") != std::string::npos;
  EXPECT_TRUE(bounded);
  const auto big = load("a: ${X:" + std::string(600 * 1024, 'x') + "}${X:" + std::string(600 * 1024, 'x') + "}\n", {});
  ASSERT_EQ(big.problems.size(), 1u);
  EXPECT_NE(big.problems[0].message.find("more than 1048576 bytes"), std::string::npos);
}

}  // namespace
}  // namespace mi::config
