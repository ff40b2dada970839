#pragma once
// One spdlog logger per component, named as operators set them with
// `logging.level.<name>` (log_components()), changeable at run time (/actuator/loggers).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

namespace mi {

std::shared_ptr<spdlog::logger> logger(const std::string& component);

// Spring Boot level names (TRACE, DEBUG, INFO, WARN, ERROR, OFF; any case).
bool parse_log_level(const std::string& text, spdlog::level::level_enum& out);

// Applies `root` to all component loggers, then each per-component override.
void configure_logging(spdlog::level::level_enum root,
                       const std::map<std::string, spdlog::level::level_enum>& per_component);

// The components that log, as `logging.level.<name>` and /actuator/loggers name them.
const std::vector<std::string>& log_components();
// Spring Boot's level name: TRACE, DEBUG, INFO, WARN, ERROR, OFF.
std::string log_level_name(spdlog::level::level_enum level);

struct LoggerLevel {
  std::optional<spdlog::level::level_enum> configured;  // set for this logger itself
  spdlog::level::level_enum effective;                  // what it logs at
};
// "ROOT" and every component.
std::map<std::string, LoggerLevel> logger_levels();
// Sets the configured level of "ROOT" or a component at run time; nothing clears it (the
// component follows ROOT again; ROOT goes back to INFO). False for an unknown name.
bool set_logger_level(const std::string& name, std::optional<spdlog::level::level_enum> level);

// Plain lines (default) or one JSON object per line in Elastic Common Schema (ECS) fields,
// Spring Boot's `logging.structured.format.console: ecs`.
enum class LogFormat { kPlain, kEcs };
void set_log_format(LogFormat format, const std::string& service_name);

}  // namespace mi
