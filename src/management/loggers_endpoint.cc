#include "common/logging.h"
#include "management/endpoints.h"

namespace mi::management {
namespace {

nlohmann::json level_json(const LoggerLevel& level) {
  nlohmann::json j = {{"effectiveLevel", log_level_name(level.effective)}};
  j["configuredLevel"] = level.configured ? nlohmann::json(log_level_name(*level.configured)) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

nlohmann::json loggers_json() {
  nlohmann::json loggers = nlohmann::json::object();
  for (const auto& [name, level] : logger_levels()) loggers[name] = level_json(level);
  return {{"levels", {"OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"}}, {"loggers", loggers}};
}

std::optional<nlohmann::json> logger_json(const std::string& name) {
  const auto levels = logger_levels();
  const auto it = levels.find(name);
  if (it == levels.end()) return std::nullopt;
  return level_json(it->second);
}

}  // namespace mi::management
