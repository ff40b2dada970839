#pragma once
// Reads every configuration source in Spring Boot's order of precedence and validates the
// result: defaults < files < environment variables < command line.
#include <filesystem>
#include <string>
#include <vector>

#include "app/command_line.h"
#include "config/config.h"

namespace mi::app {

struct LoadedConfiguration {
  config::Config config;
  std::vector<std::filesystem::path> files;  // the files read, in order
  config::Problems problems;
};

LoadedConfiguration load_configuration(const CommandLine& command_line,
                                       const std::vector<std::string>& environment,
                                       const std::filesystem::path& working_directory);

std::vector<std::string> process_environment();

}  // namespace mi::app
