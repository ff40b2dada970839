#include "app/command_line.h"

#include <gtest/gtest.h>

namespace mi::app {
namespace {

Expected<CommandLine> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "micro-integration");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

TEST(CommandLine, SeparatesOwnOptionsFromSpringOverrides) {
  auto cl = parse({"--config", "a.yml", "--server.port=9000", "--config=b.properties",
                   "--solace.connector.workflows.0.enabled=true", "--check-config"});
  ASSERT_TRUE(cl) << cl.error();
  EXPECT_EQ(cl->config_files, (std::vector<std::string>{"a.yml", "b.properties"}));
  EXPECT_EQ(cl->overrides, (std::vector<std::string>{"--server.port=9000",
                                                     "--solace.connector.workflows.0.enabled=true"}));
  EXPECT_TRUE(cl->check_config);
  EXPECT_FALSE(cl->show_help);
}

TEST(CommandLine, HelpListsConfigurationKeys) {
  auto cl = parse({"--help"});
  ASSERT_TRUE(cl);
  EXPECT_TRUE(cl->show_help);
  EXPECT_NE(cl->help_text.find("solace.connector.management.leader-election.mode"), std::string::npos);
  EXPECT_NE(cl->help_text.find("--check-config"), std::string::npos);
}

TEST(CommandLine, ConfigWithoutValueIsAnError) {
  const auto cl = parse({"--config"});
  EXPECT_FALSE(cl);
  EXPECT_NE(cl.error().find("--config"), std::string::npos) << cl.error();
}

}  // namespace
}  // namespace mi::app
