#include "config/config.h"

#include <gtest/gtest.h>

#include "config/property_sources.h"

namespace mi::config {
namespace {

Config from_yaml(const std::string& yaml) {
  PropertySet set;
  Problems problems;
  load_yaml_text(yaml, "test.yml", kFileRank, set, problems);
  EXPECT_TRUE(problems.empty());
  return Config(std::move(set));
}

TEST(Config, DefaultsComeFromTheKeyTable) {
  Config c{PropertySet{}};
  EXPECT_EQ(c.get_int("server.port"), 8090);
  EXPECT_EQ(c.get_string("solace.connector.management.leader-election.mode"), "standalone");
  EXPECT_EQ(c.get_int("solace.connector.management.leader-election.fail-over.max-attempts"), 3);
  EXPECT_DOUBLE_EQ(c.get_double("solace.connector.management.leader-election.fail-over.back-off-multiplier"), 2.0);
  EXPECT_FALSE(c.get_bool("solace.connector.workflows.7.enabled"));
  EXPECT_EQ(c.origin("server.port"), "default");
}

TEST(Config, ListsFromCommaSeparatedOrIndexedValues) {
  Config c = from_yaml("a:\n  roles: admin, ops\nb:\n  roles: [x, y]\n");
  EXPECT_EQ(c.get_list("a.roles"), (std::vector<std::string>{"admin", "ops"}));
  EXPECT_EQ(c.get_list("b.roles"), (std::vector<std::string>{"x", "y"}));
}

TEST(Config, ValidationNamesKeyOriginValueAndAllowedValues) {
  Config c = from_yaml("server:\n  port: 70000\nsolace:\n  connector:\n    management:\n"
                       "      leader-election:\n        mode: activ\n");
  const Problems problems = c.validate();
  ASSERT_EQ(problems.size(), 2u);
  std::string all = problems[0].to_string() + "\n" + problems[1].to_string();
  EXPECT_NE(all.find("error: server.port: invalid value '70000': must be 0 .. 65535 (from test.yml:2)"),
            std::string::npos) << all;
  EXPECT_NE(all.find("must be one of standalone, active_standby, active_active (from test.yml:7)"),
            std::string::npos) << all;
}

TEST(Config, UnknownKeyInOurNamespaceWarnsWithClosestKnownKey) {
  Config c = from_yaml("solace:\n  connector:\n    workflows:\n      3:\n        enabeld: true\n"
                       "unrelated:\n  key: 1\n");
  const Problems problems = c.validate();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].severity, ConfigProblem::Severity::kWarning);
  EXPECT_NE(problems[0].message.find("did you mean 'solace.connector.workflows.3.enabled'"),
            std::string::npos) << problems[0].message;
}

TEST(Config, WorkflowIdOutOfRangeIsUnknown) {
  Config c = from_yaml("solace:\n  connector:\n    workflows:\n      20:\n        enabled: true\n");
  const Problems problems = c.validate();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("unknown key"), std::string::npos);
}

TEST(Config, SecretsNeverAppearInErrorsOrEffectiveConfig) {
  PropertySet set;
  set.set("solace.connector.security.users[0].password", "hunter2", "cli", kCommandLineRank);
  set.set("spring.cloud.stream.binders.x.environment.spring.rabbitmq.password", "s3cret", "f", kFileRank);
  set.set("spring.cloud.stream.binders.x.environment.api-token", "tok", "f", kFileRank);
  Config c(std::move(set));
  const std::string effective = c.describe_effective();
  EXPECT_EQ(effective.find("hunter2"), std::string::npos);
  EXPECT_EQ(effective.find("s3cret"), std::string::npos);
  EXPECT_EQ(effective.find("tok\n"), std::string::npos);
  EXPECT_NE(effective.find("solace.connector.security.users[0].password = ******  [cli]"),
            std::string::npos) << effective;
}

TEST(Config, EffectiveConfigShowsDefaultsAndSources) {
  Config c = from_yaml("server:\n  port: 9000\n");
  const std::string effective = c.describe_effective();
  EXPECT_NE(effective.find("server.port = 9000  [test.yml:2]"), std::string::npos) << effective;
  EXPECT_NE(effective.find("server.address = 0.0.0.0  [default]"), std::string::npos) << effective;
}

TEST(KeyTable, DurationsAndBooleansParseLikeSpring) {
  long long ms = 0;
  EXPECT_TRUE(parse_duration_ms("30s", ms));
  EXPECT_EQ(ms, 30000);
  EXPECT_TRUE(parse_duration_ms("250", ms));
  EXPECT_EQ(ms, 250);
  EXPECT_FALSE(parse_duration_ms("10 parsecs", ms));
  EXPECT_FALSE(parse_duration_ms("999999999999999d", ms));  // overflows: an error, not UB
  EXPECT_TRUE(parse_duration_ms("999999999999999ms", ms));
  bool b = false;
  EXPECT_TRUE(parse_bool("YES", b));
  EXPECT_TRUE(b);
  EXPECT_FALSE(parse_bool("maybe", b));
}

TEST(KeyTable, DataSizesParseLikeSpringBootsDataSize) {
  long long bytes = 0;
  ASSERT_TRUE(parse_data_size("8KB", bytes));
  EXPECT_EQ(bytes, 8192);
  ASSERT_TRUE(parse_data_size("16MB", bytes));
  EXPECT_EQ(bytes, 16 << 20);
  ASSERT_TRUE(parse_data_size("512", bytes));
  EXPECT_EQ(bytes, 512);
  ASSERT_TRUE(parse_data_size("1gb", bytes));
  EXPECT_EQ(bytes, 1LL << 30);
  EXPECT_FALSE(parse_data_size("8 kilobytes", bytes));
  EXPECT_FALSE(parse_data_size("-1KB", bytes));
  EXPECT_FALSE(parse_data_size("999999999999999TB", bytes));  // overflows
  const KeySpec* header = find_spec("server.maxhttprequestheadersize");
  ASSERT_NE(header, nullptr);
  EXPECT_EQ(check_value(*header, "128KB").value_or(""), "must be 1KB .. 64KB");
  EXPECT_FALSE(check_value(*header, "16KB").has_value());
}

TEST(Config, DuplicateKeysInOneFileAreWarnedAndTheLaterWins) {
  PropertySet set;
  Problems problems;
  load_yaml_text("server:\n  port: 1\nserver.port: 2\n", "dup.yml", kFileRank, set, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].severity, ConfigProblem::Severity::kWarning);
  EXPECT_NE(problems[0].message.find("duplicate key (also set at dup.yml:2)"), std::string::npos) << problems[0].message;
  EXPECT_EQ(Config(std::move(set)).get_int("server.port"), 2);
}

TEST(Config, AliasExpansionIsBoundedInValuesAndDepth) {
  std::string wide = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 5; ++level) {
    wide += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) wide += (i ? ", *a" : "*a") + std::to_string(level - 1);
    wide += "]\n";
  }
  std::string deep = "k: ";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  for (const auto& yaml : {wide, deep}) {
    PropertySet set;
    Problems problems;
    load_yaml_text(yaml, "big.yml", kFileRank, set, problems);
    ASSERT_FALSE(problems.empty());
    EXPECT_NE(problems.back().message.find("too large once its aliases are expanded"), std::string::npos)
        << problems.back().message;
    EXPECT_LE(set.entries().size(), 10'000u);
  }
}

// The bound is per file: 30 documents of 1,000 expanded values each are 30,000 values in
// all, which one document of that size could not bring in either.
TEST(Config, AliasExpansionIsBoundedAcrossTheDocumentsOfAFile) {
  std::string many;
  for (int doc = 0; doc < 30; ++doc) {
    many += "---\nb0: &b0 [x, x, x, x, x, x, x, x, x, x]\n";
    many += "b1: &b1 [*b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0, *b0]\n";
    many += "d" + std::to_string(doc) + ": [*b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1]\n";
  }
  PropertySet set;
  Problems problems;
  load_yaml_text(many, "many.yml", kFileRank, set, problems);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.back().message.find("too large once its aliases are expanded"), std::string::npos)
      << problems.back().message;
  EXPECT_LE(set.entries().size(), 10'000u);
}

TEST(Config, AListOrMapWhereAScalarBelongsIsAnErrorAndItsSecretIsMasked) {
  const Config c = from_yaml("solace.connector.management.session.client-password: [pw-in-a-list]\nserver.port: {a: 1}\n");
  const Problems problems = c.validate();
  ASSERT_EQ(problems.size(), 2u);
  for (const auto& p : problems) {
    EXPECT_EQ(p.severity, ConfigProblem::Severity::kError);
    EXPECT_NE(p.message.find("a list or map where a single value belongs"), std::string::npos);
    EXPECT_EQ(p.message.find("pw-in-a-list"), std::string::npos);
  }
  EXPECT_EQ(c.describe_effective().find("pw-in-a-list"), std::string::npos);
}

TEST(KeyTable, ReferenceListsEveryKey) {
  const std::string md = reference_markdown();
  for (const auto& spec : key_table()) {
    EXPECT_NE(md.find("`" + std::string(spec.pattern) + "`"), std::string::npos) << spec.pattern;
  }
}

}  // namespace
}  // namespace mi::config
