#include "common/logging.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace mi {
namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e%z %-5l [%n] %v";

// One JSON object per line with the fields Spring Boot's ECS format writes.
class EcsFormatter final : public spdlog::formatter {
 public:
  explicit EcsFormatter(std::string service_name) : service_name_(std::move(service_name)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char timestamp[40];
    const std::size_t n = std::strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(timestamp + n, sizeof timestamp - n, ".%03dZ", static_cast<int>(millis));
    const nlohmann::ordered_json line = {
        {"@timestamp", timestamp},
        {"log.level", log_level_name(msg.level)},
        {"process.pid", static_cast<long long>(::getpid())},
        {"process.thread.id", static_cast<unsigned long long>(msg.thread_id)},
        {"service.name", service_name_},
        {"log.logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"message", std::string(msg.payload.data(), msg.payload.size())},
        {"ecs.version", "8.11"}};
    // Invalid UTF-8 in a message (a file name, say) is replaced rather than dropping the line.
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<EcsFormatter>(service_name_); }

 private:
  std::string service_name_;
};

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

struct Format {
  LogFormat format = LogFormat::kPlain;
  std::string service_name;
};
Format& log_format() {
  static Format format;
  return format;
}

void apply_format(spdlog::logger& log) {
  if (log_format().format == LogFormat::kEcs) {
    log.set_formatter(std::make_unique<EcsFormatter>(log_format().service_name));
  } else {
    log.set_pattern(kPattern);
  }
}

spdlog::level::level_enum effective_level(const std::string& component) {
  auto it = overrides().find(component);
  return it != overrides().end() ? it->second : root_level();
}

}  // namespace

const std::vector<std::string>& log_components() {
  static const std::vector<std::string> components = {"app",         "config",        "leader",      "workflow",
                                                      "binder.file", "binder.rabbit", "binder.mqtt", "binder.amqp", "management"};
  return components;
}

std::string log_level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "TRACE";
    case spdlog::level::debug: return "DEBUG";
    case spdlog::level::info: return "INFO";
    case spdlog::level::warn: return "WARN";
    case spdlog::level::err: return "ERROR";
    case spdlog::level::critical: return "FATAL";
    default: return "OFF";
  }
}

std::map<std::string, LoggerLevel> logger_levels() {
  std::lock_guard lock(registry_mutex());
  std::map<std::string, LoggerLevel> out;
  out["ROOT"] = {root_level(), root_level()};
  for (const auto& c : log_components()) {
    auto it = overrides().find(c);
    out[c] = {it != overrides().end() ? std::optional(it->second) : std::nullopt, effective_level(c)};
  }
  return out;
}

bool set_logger_level(const std::string& name, std::optional<spdlog::level::level_enum> level) {
  const auto& components = log_components();
  if (name != "ROOT" && std::find(components.begin(), components.end(), name) == components.end()) return false;
  std::lock_guard lock(registry_mutex());
  if (name == "ROOT") {
    root_level() = level.value_or(spdlog::level::info);
  } else if (level) {
    overrides()[name] = *level;
  } else {
    overrides().erase(name);
  }
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& log) { log->set_level(effective_level(log->name())); });
  return true;
}

void set_log_format(LogFormat format, const std::string& service_name) {
  std::lock_guard lock(registry_mutex());
  log_format() = {format, service_name};
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& log) { apply_format(*log); });
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  std::lock_guard lock(registry_mutex());
  if (auto existing = spdlog::get(component)) return existing;
  // stderr keeps stdout free for command output such as --check-config.
  auto log = spdlog::stderr_color_mt(component, spdlog::color_mode::never);
  apply_format(*log);
  log->set_level(effective_level(component));
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
