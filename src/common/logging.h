#pragma once
// One spdlog logger per component, named as operators set them with
// `logging.level.<name>`: app, config, leader, workflow, binder.file, management.
#include <map>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace mi {

std::shared_ptr<spdlog::logger> logger(const std::string& component);

// Spring Boot level names (TRACE, DEBUG, INFO, WARN, ERROR, OFF; any case).
bool parse_log_level(const std::string& text, spdlog::level::level_enum& out);

// Applies `root` to all component loggers, then each per-component override.
void configure_logging(spdlog::level::level_enum root,
                       const std::map<std::string, spdlog::level::level_enum>& per_component);

}  // namespace mi
