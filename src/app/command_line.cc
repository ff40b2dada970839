#include "app/command_line.h"

#include <CLI/CLI.hpp>

#include "config/key_table.h"

namespace mi::app {

Expected<CommandLine> parse_command_line(int argc, const char* const* argv) {
  CommandLine out;
  CLI::App cli{"micro-integration: moves messages between systems in workflows, with "
               "active-standby redundancy.\nConfiguration keys can be overridden as "
               "--some.key=value (Spring style)."};
  cli.set_help_flag("");  // help lists the configuration keys too, so it is ours
  cli.add_flag("-h,--help", out.show_help, "Print this help, including every configuration key");
  cli.add_flag("--version", out.show_version, "Print the version");
  cli.add_option("--config", out.config_files,
                 "Configuration file (.yml, .yaml, .properties); repeatable, later files win. "
                 "Default: application.{properties,yml,yaml} in ./ and ./config/");
  cli.add_flag("--check-config", out.check_config,
               "Validate the configuration, print the effective values with their sources "
               "(secrets masked) and exit 0 if valid, 2 if not");
  cli.add_flag("--create-management-queue", out.create_management_queue,
               "Declare the management queue (durable quorum queue with x-single-active-consumer) "
               "with the configured session, then exit");
  cli.add_flag("--print-config-reference", out.print_reference,
               "Print the configuration reference as a Markdown table");
  cli.allow_extras();
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return Expected<CommandLine>::failure(e.what());
  }
  out.overrides = cli.remaining();
  out.help_text = cli.help() + "\nConfiguration keys:\n" + config::reference_text();
  return out;
}

}  // namespace mi::app
