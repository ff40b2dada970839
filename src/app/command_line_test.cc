#include "app/command_line.h"

#include <gtest/gtest.h>

namespace mi::app {
namespace {

std::optional<CommandLine> parse(std::vector<const char*> args, std::string& error) {
  args.insert(args.begin(), "micro-integration");
  return parse_command_line(static_cast<int>(args.size()), args.data(), error);
}

TEST(CommandLine, SeparatesOwnOptionsFromSpringOverrides) {
  std::string error;
  auto cl = parse({"--config", "a.yml", "--server.port=9000", "--config=b.properties",
                   "--solace.connector.workflows.0.enabled=true", "--check-config"},
                  error);
  ASSERT_TRUE(cl) << error;
  EXPECT_EQ(cl->config_files, (std::vector<std::string>{"a.yml", "b.properties"}));
  EXPECT_EQ(cl->overrides, (std::vector<std::string>{"--server.port=9000",
                                                     "--solace.connector.workflows.0.enabled=true"}));
  EXPECT_TRUE(cl->check_config);
  EXPECT_FALSE(cl->show_help);
}

TEST(CommandLine, HelpListsConfigurationKeys) {
  std::string error;
  auto cl = parse({"--help"}, error);
  ASSERT_TRUE(cl);
  EXPECT_TRUE(cl->show_help);
  EXPECT_NE(cl->help_text.find("solace.connector.management.leader-election.mode"), std::string::npos);
  EXPECT_NE(cl->help_text.find("--check-config"), std::string::npos);
}

TEST(CommandLine, ConfigWithoutValueIsAnError) {
  std::string error;
  EXPECT_FALSE(parse({"--config"}, error));
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace mi::app
