#pragma once
// The binary's own options; everything else on the command line is a Spring-style
// `--some.key=value` configuration override.
#include <string>
#include <vector>

#include "common/expected.h"

namespace mi::app {

struct CommandLine {
  std::vector<std::string> config_files;  // --config, repeatable, in order
  std::vector<std::string> overrides;     // --some.key=value
  bool check_config = false;
  bool create_management_queue = false;
  bool print_reference = false;
  bool show_help = false;
  bool show_version = false;
  std::string help_text;
};

// The options, or what is wrong with them.
Expected<CommandLine> parse_command_line(int argc, const char* const* argv);

}  // namespace mi::app
