#include "app/load_configuration.h"

#include <unistd.h>

#include "config/placeholders.h"
#include "config/property_sources.h"

extern char** environ;

namespace mi::app {

LoadedConfiguration load_configuration(const CommandLine& command_line,
                                       const std::vector<std::string>& environment,
                                       const std::filesystem::path& working_directory) {
  config::PropertySet properties;
  config::Problems problems;
  std::vector<std::filesystem::path> files;
  if (command_line.config_files.empty()) {
    files = config::default_config_files(working_directory);
  } else {
    for (const auto& f : command_line.config_files) files.emplace_back(f);
  }
  int rank = config::kFileRank;
  for (const auto& f : files) config::load_file(f, rank++, properties, problems);
  config::load_environment(environment, properties);
  config::load_command_line(command_line.overrides, properties, problems);
  config::resolve_placeholders(properties, environment, problems);

  config::Config config(std::move(properties));
  for (auto& p : config.validate()) problems.push_back(std::move(p));
  return {std::move(config), std::move(files), std::move(problems)};
}

std::vector<std::string> process_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

}  // namespace mi::app
