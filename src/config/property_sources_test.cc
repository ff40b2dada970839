#include "config/property_sources.h"

#include <gtest/gtest.h>

#include "config/relaxed_name.h"

namespace mi::config {
namespace {

const PropertyValue& get(const PropertySet& set, const std::string& key) {
  const auto* v = set.find(canonical_key(key));
  if (!v) throw std::runtime_error("missing " + key);
  return *v;
}

TEST(YamlSource, FlattensMapsAndSequencesWithLineNumbers) {
  PropertySet set;
  Problems problems;
  load_yaml_text(R"(solace:
  connector:
    management:
      leader-election:
        mode: active_standby
    security:
      users:
        - name: admin
          roles: [admin, ops]
)", "app.yml", kFileRank, set, problems);
  ASSERT_TRUE(problems.empty());
  EXPECT_EQ(get(set, "solace.connector.management.leaderElection.mode").value, "active_standby");
  EXPECT_EQ(get(set, "solace.connector.management.leader-election.mode").origin, "app.yml:5");
  EXPECT_EQ(get(set, "solace.connector.security.users[0].name").value, "admin");
  EXPECT_EQ(get(set, "solace.connector.security.users[0].roles[1]").value, "ops");
}

TEST(YamlSource, SyntaxErrorIsReportedWithLine) {
  PropertySet set;
  Problems problems;
  load_yaml_text("a: b\nc: [unclosed\n", "bad.yml", kFileRank, set, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("invalid YAML"), std::string::npos);
  EXPECT_EQ(problems[0].origin.rfind("bad.yml:", 0), 0u);
}

TEST(YamlSource, TopLevelScalarIsAnError) {
  PropertySet set;
  Problems problems;
  load_yaml_text("just a string\n", "s.yml", kFileRank, set, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(set.entries().empty());
}

TEST(PropertiesSource, ParsesSeparatorsCommentsContinuationsAndEscapes) {
  PropertySet set;
  Problems problems;
  load_properties_text("# comment\n! also comment\nserver.port=9000\nserver.address : 127.0.0.1\n"
                       "a.b  spaced value\nlong.value=one \\\n    two\nescaped=tab\\there\\u0041\n"
                       "win.line=x\r\n",
                       "app.properties", kFileRank, set, problems);
  ASSERT_TRUE(problems.empty());
  EXPECT_EQ(get(set, "server.port").value, "9000");
  EXPECT_EQ(get(set, "server.address").value, "127.0.0.1");
  EXPECT_EQ(get(set, "a.b").value, "spaced value");
  EXPECT_EQ(get(set, "long.value").value, "one two");
  EXPECT_EQ(get(set, "long.value").origin, "app.properties:6");
  EXPECT_EQ(get(set, "escaped").value, "tab\thereA");
  EXPECT_EQ(get(set, "win.line").value, "x");
}

TEST(Precedence, LaterFilesThenEnvironmentThenCommandLineWin) {
  PropertySet set;
  Problems problems;
  load_properties_text("server.port=1\nserver.address=a\nlogging.level.root=WARN\n", "one.properties",
                       kFileRank, set, problems);
  load_yaml_text("server:\n  port: 2\n  address: b\n", "two.yml", kFileRank + 1, set, problems);
  load_environment({"SERVER_PORT=3", "PATH=/bin"}, set);
  load_command_line({"--server.address=c"}, set, problems);
  ASSERT_TRUE(problems.empty());
  EXPECT_EQ(get(set, "server.port").value, "3");
  EXPECT_EQ(get(set, "server.port").origin, "environment variable SERVER_PORT");
  EXPECT_EQ(get(set, "server.address").value, "c");
  EXPECT_EQ(get(set, "server.address").origin, "command line");
  EXPECT_EQ(get(set, "logging.level.root").value, "WARN");
  // An environment variable read after the command line does not override it.
  load_environment({"SERVER_ADDRESS=d"}, set);
  EXPECT_EQ(get(set, "server.address").value, "c");
  EXPECT_EQ(set.find("path"), nullptr);
}

TEST(CommandLineSource, RejectsArgumentsThatAreNotKeyValue) {
  PropertySet set;
  Problems problems;
  load_command_line({"--server.port", "oops", "--=x"}, set, problems);
  EXPECT_EQ(problems.size(), 3u);
  EXPECT_TRUE(set.entries().empty());
}

TEST(FileSource, UnknownExtensionAndMissingFileAreErrors) {
  PropertySet set;
  Problems problems;
  load_file("/nonexistent/application.yml", kFileRank, set, problems);
  load_file("/etc/hostname", kFileRank, set, problems);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].message.find("cannot read"), std::string::npos);
  EXPECT_NE(problems[1].message.find(".properties"), std::string::npos);
}

}  // namespace
}  // namespace mi::config

namespace mi::config {
namespace {

// yaml-cpp 0.7's LoadAll loops forever on this (found by the yaml_config fuzz target).
TEST(YamlSource, StrayCommaIsAnErrorNotAHang) {
  PropertySet set;
  Problems problems;
  load_yaml_text(",\n", "application.yml", kFileRank, set, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("invalid YAML"), std::string::npos) << problems[0].message;
  EXPECT_EQ(problems[0].origin, "application.yml:1");
}

TEST(YamlSource, MultiDocumentStreamsStillLoad) {
  PropertySet set;
  Problems problems;
  load_yaml_text("a: 1\n---\nb: 2\n---\n", "application.yml", kFileRank, set, problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(set.entries().size(), 2u);
}

}  // namespace
}  // namespace mi::config
