#include "common/logging.h"

#include <algorithm>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace mi {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

spdlog::level::level_enum& root_level() {
  static spdlog::level::level_enum level = spdlog::level::info;
  return level;
}

std::map<std::string, spdlog::level::level_enum>& overrides() {
  static std::map<std::string, spdlog::level::level_enum> levels;
  return levels;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  std::lock_guard lock(registry_mutex());
  if (auto existing = spdlog::get(component)) return existing;
  // stderr keeps stdout free for command output such as --check-config.
  auto log = spdlog::stderr_color_mt(component, spdlog::color_mode::never);
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %-5l [%n] %v");
  auto it = overrides().find(component);
  log->set_level(it != overrides().end() ? it->second : root_level());
  log->flush_on(spdlog::level::info);
  return log;
}

bool parse_log_level(const std::string& text, spdlog::level::level_enum& out) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::map<std::string, spdlog::level::level_enum> levels = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"fatal", spdlog::level::critical},
      {"off", spdlog::level::off}};
  auto it = levels.find(t);
  if (it == levels.end()) return false;
  out = it->second;
  return true;
}

void configure_logging(spdlog::level::level_enum root,
                       const std::map<std::string, spdlog::level::level_enum>& per_component) {
  std::lock_guard lock(registry_mutex());
  root_level() = root;
  overrides() = per_component;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& log) {
    auto it = per_component.find(log->name());
    log->set_level(it != per_component.end() ? it->second : root);
  });
}

}  // namespace mi
